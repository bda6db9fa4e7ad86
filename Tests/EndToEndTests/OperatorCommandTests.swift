import Foundation
import GRDB
import Kafka
import OrderEvents
import ServiceKit
import Storage
import StorageTesting
import Testing

@Suite("A service binary's operator subcommands, run as an operator would")
struct OperatorCommandTests {
    @Test(
        "payment-service dead-letters: refused while the store is in use; a replay applies the message once, a second one says so and changes nothing"
    )
    func replayDeadLetter() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ops-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("KAFKA_") }
        environment["DATA_DIR"] = root
        let binary = "\(Platform.binaries)/payment-service"
        func run(_ arguments: String...) async throws -> (status: Int32, output: String) {
            try await TestProcess.run(binary, arguments, environment: environment)
        }

        let help = try await run("--help")
        #expect(help.status == 0)
        #expect(help.output.contains("outbox") && help.output.contains("dead-letters"))
        let usage = try await run("dead-letters", "replay")
        #expect(usage.status == 64, "\(usage.output)")
        // The first command creates the store with the service's own tables, as the service would.
        let empty = try await run("dead-letters", "list")
        #expect(empty.status == 0)
        #expect(empty.output.contains("no dead letters"), "\(empty.output)")

        // The fixture: an order the service dead-lettered (as an older version that rejected it would).
        let event = EventEnvelope(
            orderId: "ops-1",
            correlationId: "c-ops-1",
            payload: .orderCreated(
                OrderCreated(amount: Amount(exactly: "12.50")!, currency: "USD", customerEmail: nil, items: [])
            )
        )
        var store: EventStore? = try await EventStore(directory: root, name: "payment-service", topics: .defaults)
        let message = KafkaMessage(
            topic: "orders.created",
            partition: 2,
            offset: 41,
            key: Array("ops-1".utf8),
            value: try EventCodec.encode(event),
            headers: [KafkaHeader(name: EventHeader.eventType, string: event.type.rawValue)]
        )
        try await deadLetter(message, in: try #require(store))

        // While another process has the store (as the running service does), nothing is done.
        let busy = try await run("dead-letters", "replay", "--all")
        #expect(busy.status == 1)
        #expect(busy.output.contains("orderd stop payment-service"), "\(busy.output)")
        store = nil

        let listed = try await run("dead-letters", "list")
        #expect(
            listed.output.contains("orders.created[2]@41") && listed.output.contains("not replayed"),
            "\(listed.output)"
        )
        let replayed = try await run("dead-letters", "replay", "1")
        #expect(replayed.status == 0, "\(replayed.output)")
        #expect(replayed.output.contains("applied"), "\(replayed.output)")
        let again = try await run("dead-letters", "replay", "1")
        #expect(again.status == 0)
        #expect(again.output.contains("already replayed"), "\(again.output)")
        let unknown = try await run("dead-letters", "replay", "7")
        #expect(unknown.status == 1)
        #expect(unknown.output.contains("no dead letter with id 7"), "\(unknown.output)")

        // Applied once: one inbox entry, one outcome event for the order in the outbox.
        let database = try DatabaseQueue(path: "\(root)/payment-service.sqlite")
        let (inbox, outcomes) = try await database.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox") ?? 0,
                try Int.fetchOne(
                    db,
                    sql: "SELECT COUNT(*) FROM outbox WHERE topic LIKE 'payments.%' AND message_key = ?",
                    arguments: [Data("ops-1".utf8)]
                ) ?? 0
            )
        }
        #expect(inbox == 1)
        #expect(outcomes == 1)
        let outbox = try await run("outbox", "list")
        #expect(outbox.status == 0)
        #expect(outbox.output.contains("no set-aside outbox rows"), "\(outbox.output)")
    }

    private func deadLetter(_ message: KafkaMessage, in store: EventStore) async throws {
        let first = try await store.database.write { transaction in
            try store.deadLetter(
                message,
                error: "rejected OrderCreated: a bug since fixed",
                service: "payment-service",
                in: transaction
            )
        }
        #expect(first)
    }
}
