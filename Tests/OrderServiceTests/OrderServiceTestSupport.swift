import Foundation
import GRDB
import Kafka
import Logging
import OrderEvents
@testable import OrderService
import ServiceKit
import Storage
import StorageTesting

/// An intake over a fresh store in a temporary directory, with a relay whose producer never
/// connects (nothing here publishes).
final class IntakeHarness: Sendable {
    let directory: String
    let store: EventStore
    let producer: KafkaProducer
    let intake: OrderIntake

    /// Over a SQLite file in a temporary directory, or over order-service's schema `name` on the
    /// test PostgreSQL server (two harnesses with one name are two instances of the service).
    init(postgresSchema name: String? = nil) async throws {
        var logger = Logger(label: "order-intake-tests")
        logger.logLevel = .critical
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("order-intake-\(UUID().uuidString)").path
        if let name {
            store = try await EventStore(
                url: try DatabaseURL(try await TestPostgresServer.shared().url),
                name: name,
                topics: Topics.defaults,
                migrations: OrderService.migrations,
                logger: logger
            )
        } else {
            store = try await EventStore(
                directory: directory,
                name: "order-service",
                topics: Topics.defaults,
                migrations: OrderService.migrations
            )
        }
        producer = try KafkaProducer(
            configuration: KafkaClientConfiguration(
                bootstrapServers: "127.0.0.1:9",
                clientId: "t",
                statisticsInterval: nil
            ),
            logger: logger,
            shutdownTimeout: .seconds(1)
        )
        intake = OrderIntake(
            store: store,
            relay: OutboxRelay(store: store, producer: producer, logger: logger),
            logger: logger
        )
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs the intake (and its producer) while `body` runs, then cancels it.
    func running(_ body: @escaping @Sendable (OrderIntake) async throws -> Void) async throws {
        let intake = self.intake
        try await withRunningClients(producer) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await intake.run() }
                do {
                    try await body(intake)
                } catch {
                    group.cancelAll()
                    throw error
                }
                group.cancelAll()
            }
        }
    }

    func submit(orderId: String, amount: String, items: [LineItem] = []) -> Task<Acceptance, any Error> {
        let request = OrderRequest(
            orderId: orderId,
            amount: Amount(exactly: amount)!,
            customerEmail: "a@example.com",
            items: items
        )
        return Task { [intake] in try await intake.submit(request, orderId: orderId, trace: TraceContext.root()) }
    }

    func storedCounts() async throws -> (orders: Int, outbox: Int) {
        try await store.database.read { transaction in
            (
                try transaction.fetchValue(Int.self, "SELECT COUNT(*) FROM orders") ?? -1,
                try transaction.fetchValue(Int.self, "SELECT COUNT(*) FROM outbox") ?? -1
            )
        }
    }

    typealias Acceptance = OrderIntake.Acceptance
}

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Polls `condition` until it holds, failing after `timeout`.
func waitUntil(
    _ what: String,
    timeout: Duration = .seconds(30),
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            throw TimedOut(description: "timed out after \(timeout) waiting until \(what)")
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}

extension OrderIntake.Acceptance {
    var acceptedId: String? { if case .accepted(let record) = self { record.orderId } else { nil } }
    var repeatedId: String? { if case .repeated(let record) = self { record.orderId } else { nil } }
    var isConflict: Bool { if case .conflict = self { true } else { false } }
}
