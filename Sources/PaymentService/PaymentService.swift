import Configuration
import Foundation
import Logging
import OrderEvents
import ServiceKit
import Storage

/// payment-service: charges or declines each new order by ``PaymentRule`` and refunds a charged
/// order exactly once when inventory rejects it.
public struct PaymentService: PlatformService {
    public static let identity = ServiceIdentity(
        name: "payment-service",
        metricsPort: 9101,
        groupIdVariable: "PAYMENT_GROUP_ID",
        subscriptions: { [$0.ordersCreated, $0.inventoryRejected] }
    )

    public let rule: PaymentRule

    public init(
        configuration: ServiceConfiguration,
        reader: ConfigReader,
        logger: Logger
    ) throws(ServiceConfigurationError) {
        let text = reader.trimmedString(forKey: "payment.limit", default: PaymentRule.defaultLimit.description)
        guard let limit = Amount(exactly: text) else {
            throw ServiceConfigurationError(
                variable: "PAYMENT_LIMIT",
                problem: "\"\(text)\" is not an amount ≥ 0 with at most 2 decimal places"
            )
        }
        rule = PaymentRule(limit: limit)
    }

    public init(rule: PaymentRule) {
        self.rule = rule
    }

    public static let migrations = [
        Migration(
            "payments-v1",
            portable: """
                CREATE TABLE payments (
                    order_id TEXT PRIMARY KEY NOT NULL,
                    payment_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    amount_minor {INT64} NOT NULL,
                    currency TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    refunded_at TEXT
                ){KEYED};
                """
        )
    ]

    public func handle(_ event: EventEnvelope, in transaction: any SQLTransaction) throws -> Reaction {
        switch event.payload {
        case .orderCreated(let order):
            return try charge(event, order, in: transaction)
        case .inventoryRejected:
            return try refund(event, in: transaction)
        default:
            throw EventRejected("payment-service does not consume \(event.type.rawValue) events")
        }
    }

    private func charge(
        _ event: EventEnvelope,
        _ order: OrderCreated,
        in transaction: any SQLTransaction
    ) throws -> Reaction {
        guard order.amount.minorUnits > 0 else { throw EventRejected("amount must be greater than 0") }
        // A second OrderCreated for the order committing at once on another instance makes the
        // insert below fail on the primary key (transient): the retry finds this row.
        if try transaction.fetchValue(String.self, "SELECT status FROM payments WHERE order_id = ?", [event.orderId])
            != nil
        {
            return Reaction(
                summary: "payment for order \(event.orderId) already decided; ignored a second OrderCreated",
                level: .warning
            )
        }
        let paymentId = UUID().uuidString.lowercased()
        let now = Timestamp.format(Date())
        switch rule.decide(order.amount) {
        case .approve:
            try record(event.orderId, paymentId: paymentId, status: "charged", order: order, at: now, in: transaction)
            let completed = PaymentCompleted(
                paymentId: paymentId,
                amount: order.amount,
                currency: order.currency,
                customerEmail: order.customerEmail,
                items: order.items
            )
            return Reaction(
                events: [event.caused(.paymentCompleted(completed))],
                summary: "processed payment of \(order.amount) \(order.currency), published payments.completed"
            )
        case .decline(let detail):
            try record(event.orderId, paymentId: paymentId, status: "declined", order: order, at: now, in: transaction)
            let failed = PaymentFailed(
                reason: .paymentDeclined,
                amount: order.amount,
                currency: order.currency,
                customerEmail: order.customerEmail,
                detail: detail
            )
            return Reaction(
                events: [event.caused(.paymentFailed(failed))],
                summary: "declined payment (\(detail)), published payments.failed"
            )
        }
    }

    private func record(
        _ orderId: String,
        paymentId: String,
        status: String,
        order: OrderCreated,
        at now: String,
        in transaction: any SQLTransaction
    ) throws {
        try transaction.send(
            "INSERT INTO payments (order_id, payment_id, status, amount_minor, currency, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [orderId, paymentId, status, order.amount.minorUnits, order.currency, now]
        )
    }

    private func refund(_ event: EventEnvelope, in transaction: any SQLTransaction) throws -> Reaction {
        let select = "SELECT status, payment_id, amount_minor, currency FROM payments WHERE order_id = ?"
        guard let row = try transaction.fetchOne(select, [event.orderId]) else {
            return Reaction(summary: "no payment to refund for order \(event.orderId)", level: .warning)
        }
        let status: String = try row["status"]
        // The check and the change are one statement: of two refunds committing at once (on two
        // instances), one changes the row and the other finds it refunded.
        guard
            status == "charged",
            try transaction.execute(
                "UPDATE payments SET status = 'refunded', refunded_at = ? WHERE order_id = ? AND status = 'charged'",
                [Timestamp.format(Date()), event.orderId]
            ) == 1
        else {
            return Reaction(
                summary:
                    "payment for order \(event.orderId) is \(status == "charged" ? "refunded" : status); nothing to refund",
                level: .notice
            )
        }
        let refunded = PaymentRefunded(
            paymentId: try row["payment_id"],
            amount: Amount(uncheckedMinorUnits: try row["amount_minor"]),
            currency: try row["currency"],
            reason: .outOfStock
        )
        return Reaction(
            events: [event.caused(.paymentRefunded(refunded))],
            summary:
                "refunded payment of \(refunded.amount) \(refunded.currency) (out of stock), published payments.refunded"
        )
    }
}
