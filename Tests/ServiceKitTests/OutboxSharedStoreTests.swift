import Dispatch
import Foundation
@_spi(Testing) @testable import Kafka
import OrderEvents
@testable import ServiceKit
import Storage
import StorageTesting
import Synchronization
import Testing

/// Several instances of a service on one PostgreSQL schema: what the relay reads while
/// transactions commit out of id order, and which relay publishes.
@Suite("The outbox of a store shared by several instances (a real PostgreSQL server)")
struct OutboxSharedStoreTests {
    @Test("a row committed after a later one was written is not skipped: reads wait for it, then return both in order")
    func rowsCommittedOutOfIdOrderAreNotSkipped() async throws {
        let directory = try TemporaryDirectory()
        let store = try await openStore(.postgres, in: directory)
        let (early, late) = (orderCreated("early"), orderCreated("late"))
        let inserted = Flag()
        let release = DispatchSemaphore(value: 0)
        // The early transaction takes the lower id, then stays open while the late one commits.
        let slow = Task {
            try await store.database.write { transaction in
                try store.enqueue([early], trace: nil, in: transaction)
                // The insert may be held until a statement waits: make sure the server has it.
                _ = try transaction.fetchValue(Int.self, "SELECT COUNT(*) FROM outbox")
                inserted.set()
                // On the database's own thread, never a Swift concurrency one.
                release.wait()
            }
        }
        try await waitUntil { inserted.isSet }
        try await store.database.write { transaction in try store.enqueue([late], trace: nil, in: transaction) }
        let committed = try await store.database.read { transaction in
            try transaction.fetchValue(Int.self, "SELECT COUNT(*) FROM outbox")
        }
        #expect(committed == 1)
        // The late row is committed, but a reader that took it would move past the early one.
        #expect(try await store.unsent(limit: 10).isEmpty)
        release.signal()
        try await slow.value
        let rows = try await unsentRows(store, atLeast: 2)
        #expect(try rows.map { try EventCodec.decode($0.message.value).eventId } == [early.eventId, late.eventId])
        #expect(rows[0].id < rows[1].id && rows[0].position < rows[1].position)
        // Reading on from the first row returns the second, as the relay's cursor does.
        #expect(try await store.unsent(after: rows[0].position, limit: 10).map(\.id) == [rows[1].id])
    }

    @Test(
        "two instances' relays on one schema: one publishes, each row once in per-order order; when it stops, the other takes over"
    )
    func oneRelayPublishesAndAStandbyTakesOver() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "orders.created", partitions: 3)])
        let directory = try TemporaryDirectory()
        let name = TestPostgresServer.uniqueName()
        let first = try await openStore(.postgres, in: directory, name: name)
        let second = try await openStore(.postgres, in: directory, name: name)
        let relays = try [first, second].map { store in
            let producer = try KafkaProducer(
                configuration: KafkaClientConfiguration(
                    bootstrapServers: cluster.bootstrapServers,
                    clientId: "relay-\(store.name)",
                    statisticsInterval: nil
                ),
                logger: quietLogger
            )
            return (
                producer,
                OutboxRelay(store: store, producer: producer, logger: quietLogger, idleInterval: .milliseconds(50))
            )
        }
        var written: [EventEnvelope] = []
        func write(_ count: Int, through store: EventStore) async throws {
            let events = (0..<count).map { orderCreated("key-\(($0 + written.count) % 5)", amount: "\($0 + 1)") }
            written += events
            try await store.database.write { transaction in
                for event in events { try store.enqueue([event], trace: nil, in: transaction) }
            }
        }
        try await withRunningClients(relays[0].0, relays[1].0) {
            let leading = Task { try await relays[0].1.run() }
            try await write(30, through: first)
            try await waitUntil { try await first.pendingCount() == 0 }
            // The second instance's relay stands by while the first holds the lock; rows the
            // second instance writes are published by the first.
            let standing = Task { try await relays[1].1.run() }
            try await write(30, through: second)
            try await waitUntil { try await second.pendingCount() == 0 }
            // The first stops (its lock goes with it); the standby takes over.
            leading.cancel()
            try await leading.value
            try await write(30, through: first)
            try await waitUntil { try await first.pendingCount() == 0 }
            standing.cancel()
            try await standing.value
        }
        let all = written
        let messages = try await readTopic("orders.created", from: cluster) { $0.count >= all.count }
        #expect(messages.count == all.count, "each row published once")
        try expectPerKeyOrder(messages, written: all)
    }
}

/// A flag set once, read from any thread.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
