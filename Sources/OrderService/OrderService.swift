import Configuration
import Foundation
import Logging
import Metrics
import OrderEvents
import ServiceKit
import Storage
import ServiceLifecycle

/// order-service: the REST API that accepts orders (writing the order and its `orders.created`
/// event in one transaction) and the consumer that moves each order through the guarded state
/// machine as payment, inventory and notification outcomes arrive.
public struct OrderService: PlatformService {
    /// order-service: metrics on 9100, group `ORDER_GROUP_ID`, consuming every outcome topic.
    public static let identity = ServiceIdentity(
        name: "order-service",
        metricsPort: 9100,
        groupIdVariable: "ORDER_GROUP_ID",
        subscriptions: { topics in
            [
                topics.paymentsCompleted, topics.paymentsFailed, topics.paymentsRefunded,
                topics.inventoryReserved, topics.inventoryRejected, topics.notificationsSent,
            ]
        }
    )

    let apiHost: String
    let apiPort: Int

    /// Reads the API's `HOST` (default `0.0.0.0`) and `PORT` (default 4000).
    /// - Throws: ``ServiceConfigurationError`` naming `PORT` when it is not a port number.
    public init(
        configuration: ServiceConfiguration,
        reader: ConfigReader,
        logger: Logger
    ) throws(ServiceConfigurationError) {
        apiHost = reader.trimmedString(forKey: "host", default: "0.0.0.0")
        apiPort = try reader.port(forKey: "port", default: 4000)
        // Every outcome is exported from the start (at 0), so a rate over it has data.
        for outcome in OrderAPI.ReceivedOutcome.allCases {
            OrderAPI.countReceived(outcome, by: 0)
        }
    }

    /// The order tables (orders, history, parked facts).
    public static var migrations: [Migration] { OrderTables.migrations }

    /// The order intake and the REST API; the API stops first on shutdown.
    public func additionalServices(runtime: ServiceRuntime) throws -> [any Service] {
        // The intake comes before the API: the group stops services in reverse order, so the
        // API stops taking requests first and the intake still commits what it was given.
        let intake = OrderIntake(store: runtime.store, relay: runtime.relay, logger: runtime.logger)
        let api = OrderAPI.buildApplication(host: apiHost, port: apiPort, runtime: runtime, intake: intake)
        return [intake, ListeningServer(api, host: apiHost, port: apiPort, variable: "PORT")]
    }

    /// Moves the order through ``OrderStateMachine``: a transition replays parked facts, a fact
    /// that arrived before its predecessor is parked, a refused one is logged and dropped.
    /// - Throws: ``EventRejected`` for an event type it does not consume or an unknown order.
    public func handle(_ event: EventEnvelope, in transaction: any SQLTransaction) throws -> Reaction {
        guard let fact = OrderFact(event.payload) else {
            throw EventRejected("order-service does not consume \(event.type.rawValue) events")
        }
        guard let order = try OrderTables.progress(event.orderId, in: transaction) else {
            throw EventRejected("no order \(event.orderId) is known to order-service")
        }
        var steps: [String] = []
        var refusals: [String] = []
        var terminal: (OrderStatus, Date)?
        let now = Date()
        switch try apply(fact, to: order.status, orderId: event.orderId, at: now, in: transaction) {
        case .transition(let status):
            steps.append("\(order.status.rawValue) → \(status.rawValue)")
            var current = status
            // A transition may unblock facts that arrived early. Replays only delete parked
            // facts, so an order with none parked when it was read has none to replay.
            while order.hasParked,
                let (next, parkedSteps) = try replayParked(
                    event.orderId,
                    status: current,
                    at: now,
                    refusals: &refusals,
                    in: transaction
                )
            {
                steps += parkedSteps
                current = next
            }
            if current.isTerminal, let created = Timestamp.parse(order.createdAt) {
                terminal = (current, created)
            }
        case .acknowledged:
            steps.append("\(fact) noted")
        case .deferred:
            try park(event, in: transaction)
            return Reaction(
                summary:
                    "\(event.type.rawValue) arrived before its predecessor; parked until order \(event.orderId) moves on",
                level: .debug
            )
        case .refused:
            return Reaction(
                summary:
                    "refused transition: \(event.type.rawValue) does not apply to a \(order.status.rawValue) order",
                level: .warning
            )
        }
        let record = terminal
        return Reaction(
            summary: "order \(event.orderId) " + (steps + refusals).joined(separator: ", "),
            level: refusals.isEmpty ? .info : .warning,
            onCommit: {
                guard let (status, created) = record else { return }
                Metrics.Timer(
                    label: "order_accept_to_terminal_seconds",
                    dimensions: [("outcome", status.rawValue.lowercased())]
                ).record(duration: .seconds(now.timeIntervalSince(created)))
            }
        )
    }

    private enum Applied {
        case transition(OrderStatus)
        case acknowledged
        case deferred
        case refused
    }

    private func apply(
        _ fact: OrderFact,
        to status: OrderStatus,
        orderId: String,
        at now: Date,
        in transaction: any SQLTransaction
    ) throws -> Applied {
        switch OrderStateMachine.decide(status, fact) {
        case .transition(let next, let reason):
            try OrderTables.setStatus(orderId, next, reason: reason, at: Timestamp.format(now), in: transaction)
            return .transition(next)
        case .acknowledge:
            if fact == .refunded {
                try transaction.send("UPDATE orders SET refunded = 1 WHERE order_id = ?", [orderId])
            }
            return .acknowledged
        case .postpone:
            return .deferred
        case .refuse:
            return .refused
        }
    }

    private func park(_ event: EventEnvelope, in transaction: any SQLTransaction) throws {
        try transaction.send(
            "INSERT INTO parked_events (order_id, event) VALUES (?, ?)",
            [event.orderId, try EventCodec.encode(event)]
        )
    }

    /// Applies the first parked fact that now applies. Returns the new status when one moved
    /// the order, nil when nothing more can move it; parked facts the order refuses are dropped
    /// and named in `refusals`.
    private func replayParked(
        _ orderId: String,
        status: OrderStatus,
        at now: Date,
        refusals: inout [String],
        in transaction: any SQLTransaction
    ) throws -> (OrderStatus, [String])? {
        let parked = try transaction.fetchAll(
            "SELECT seq, event FROM parked_events WHERE order_id = ? ORDER BY seq",
            [orderId]
        )
        var steps: [String] = []
        for row in parked {
            let seq: Int64 = try row["seq"]
            let bytes: [UInt8] = try row["event"]
            guard let event = try? EventCodec.decode(bytes), let fact = OrderFact(event.payload) else {
                try transaction.send("DELETE FROM parked_events WHERE seq = ?", [seq])
                continue
            }
            switch try apply(fact, to: status, orderId: orderId, at: now, in: transaction) {
            case .deferred:
                continue
            case .transition(let next):
                try transaction.send("DELETE FROM parked_events WHERE seq = ?", [seq])
                return (next, steps + ["\(status.rawValue) → \(next.rawValue) (parked \(event.type.rawValue))"])
            case .acknowledged:
                try transaction.send("DELETE FROM parked_events WHERE seq = ?", [seq])
                steps.append("\(fact) noted")
            case .refused:
                try transaction.send("DELETE FROM parked_events WHERE seq = ?", [seq])
                refusals.append("refused parked \(event.type.rawValue) for a \(status.rawValue) order")
            }
        }
        return nil
    }
}
