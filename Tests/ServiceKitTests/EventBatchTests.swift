import Foundation
import GRDB
import Kafka
import OrderEvents
@testable import ServiceKit
import Synchronization
import Storage
import StorageTesting
import Testing

/// A ``CountingHandler`` that fails transiently (a non-rejection error) while `failuresLeft`
/// is above zero, on the event of `failingOrder` only.
final class FlakyHandler: EventHandler {
    let inner = CountingHandler()
    let failingOrder: String
    let failuresLeft: Mutex<Int>
    let failures = Mutex(0)

    struct DatabaseHiccup: Error {}

    init(failingOrder: String, failures: Int) {
        self.failingOrder = failingOrder
        failuresLeft = Mutex(failures)
    }

    func handle(_ event: EventEnvelope, in transaction: any SQLTransaction) throws -> Reaction {
        if event.orderId == failingOrder {
            let fail = failuresLeft.withLock { left in
                guard left > 0 else { return false }
                left -= 1
                return true
            }
            if fail {
                failures.withLock { $0 += 1 }
                throw DatabaseHiccup()
            }
        }
        return try inner.handle(event, in: transaction)
    }
}

@Suite("The consume loop handles a batch in one transaction, each event on its own")
struct EventBatchTests {
    let cluster: EmbeddedKafkaCluster
    let directory: TemporaryDirectory
    let configuration: ServiceConfiguration

    init() throws {
        cluster = try singlePartitionCluster()
        directory = try TemporaryDirectory()
        configuration = try consumeLoopConfiguration(
            name: "batch-test",
            groupIdVariable: "BATCH_GROUP_ID",
            cluster: cluster,
            directory: directory
        )
    }

    func loop(_ handler: any EventHandler, store: EventStore) throws -> EventConsumerService {
        // Never run: these loops only write to the store; nothing is published.
        let producer = try KafkaProducer(configuration: configuration.kafka, logger: quietLogger)
        let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger)
        return consumerService(configuration, store: store, handler: handler, relay: relay)
    }

    func message(_ offset: Int64, _ event: EventEnvelope) throws -> KafkaMessage {
        KafkaMessage(
            topic: "orders.created",
            partition: 0,
            offset: offset,
            key: Array(event.key.utf8),
            value: try EventCodec.encode(event)
        )
    }

    func count(_ table: String, in store: EventStore) async throws -> Int {
        try await store.database.read { transaction in
            try transaction.fetchValue(Int.self, "SELECT COUNT(*) FROM \(table)") ?? 0
        }
    }

    /// The keys of the committed `payments.completed` outbox rows, in order: one per applied event.
    func payments(in store: EventStore) async throws -> [String] {
        try await store.unsent(limit: 100).filter { $0.message.topic == "payments.completed" }
            .map { String(decoding: $0.message.key ?? [], as: UTF8.self) }
    }

    /// ok-1, ok-2, a repeat of ok-1, undecodable bytes, an event the handler rejects, ok-3.
    func mixedBatch() throws -> [KafkaMessage] {
        let first = orderCreated("ok-1")
        // CountingHandler rejects everything but OrderCreated.
        let rejected = EventEnvelope(
            orderId: "bad-1",
            correlationId: "c-bad-1",
            payload: .paymentCompleted(
                PaymentCompleted(
                    paymentId: "p",
                    amount: Amount(exactly: "1")!,
                    currency: "USD",
                    customerEmail: nil,
                    items: []
                )
            )
        )
        return [
            try message(10, first),
            try message(11, orderCreated("ok-2")),
            try message(12, first),
            KafkaMessage(topic: "orders.created", partition: 0, offset: 13, key: nil, value: Array("{not json".utf8)),
            try message(14, rejected),
            try message(15, orderCreated("ok-3")),
        ]
    }

    @Test(
        "a duplicate and two poison messages in the middle: each good event applied once, the poison dead-lettered, the rest commits"
    )
    func mixed() async throws {
        let store = try await EventStore(directory: directory.path, name: "batch", topics: .defaults)
        let handler = CountingHandler()
        let loop = try loop(handler, store: store)

        #expect(await loop.process(try mixedBatch()))

        #expect(handler.applied.withLock { $0 } == ["ok-1": 1, "ok-2": 1, "ok-3": 1, "bad-1": 1])
        // The rejected event's inbox row rolled back with its savepoint; the repeat added none.
        #expect(try await count("inbox", in: store) == 3)
        let dead = try await store.database.read { transaction in
            try transaction.fetchAll("SELECT source_offset FROM dead_letters ORDER BY source_offset", []).map {
                try $0[0] as Int64
            }
        }
        #expect(dead == [13, 14])
        let unsent = try await store.unsent(limit: 100)
        #expect(
            unsent.map(\.message.topic) == [
                "payments.completed", "payments.completed", "orders.created.dlq", "orders.created.dlq",
                "payments.completed",
            ]
        )
        #expect(try await payments(in: store) == ["ok-1", "ok-2", "ok-3"])
    }

    @Test("a batch delivered again after a crash that followed its commit changes nothing twice")
    func redeliveredAfterCommit() async throws {
        let store = try await EventStore(directory: directory.path, name: "batch", topics: .defaults)
        let handler = CountingHandler()
        let loop = try loop(handler, store: store)
        let batch = try mixedBatch()

        #expect(await loop.process(batch))
        let outboxAfterFirst = try await count("outbox", in: store)
        // Offsets were not yet committed when the process died: Kafka delivers the whole batch again.
        #expect(await loop.process(batch))

        // The good events are skipped by the inbox; the rejected one is looked at again and
        // rejected again, but dead-lettered only once (one row per source position).
        #expect(handler.applied.withLock { $0 } == ["ok-1": 1, "ok-2": 1, "ok-3": 1, "bad-1": 2])
        #expect(try await count("outbox", in: store) == outboxAfterFirst)
        #expect(try await count("dead_letters", in: store) == 2)
    }

    @Test(
        "a transient failure rolls the whole batch back and retries it; a crash during the retries leaves nothing half applied"
    )
    func transientFailure() async throws {
        let store = try await EventStore(directory: directory.path, name: "batch", topics: .defaults)
        let batch = try mixedBatch()

        // The process dies (here: the loop is cancelled) while ok-3 keeps failing.
        let stuck = FlakyHandler(failingOrder: "ok-3", failures: .max)
        let stuckLoop = try loop(stuck, store: store)
        let attempt = Task { await stuckLoop.process(batch) }
        try await waitUntil { stuck.failures.withLock { $0 } >= 2 }
        attempt.cancel()
        #expect(await attempt.value == false, "an interrupted batch must not be acknowledged")
        #expect(try await count("inbox", in: store) == 0)
        #expect(try await count("outbox", in: store) == 0)
        #expect(try await count("dead_letters", in: store) == 0)

        // Re-delivered to a process whose database answers again after one more hiccup.
        let recovering = FlakyHandler(failingOrder: "ok-3", failures: 1)
        #expect(try await loop(recovering, store: store).process(batch))
        #expect(recovering.failures.withLock { $0 } == 1)
        // The first attempt's work on ok-1 and ok-2 was rolled back with the batch: what is
        // committed is each effect once.
        #expect(try await payments(in: store) == ["ok-1", "ok-2", "ok-3"])
        #expect(try await count("inbox", in: store) == 3)
        #expect(try await count("dead_letters", in: store) == 2)
    }

    @Test("the consumer hands out batches in partition order, and offsets stored per batch are where its group resumes")
    func consumerBatches() async throws {
        let producer = try KafkaProducer(configuration: configuration.kafka, logger: quietLogger)
        func produce(_ range: Range<Int>) async throws {
            let messages = try range.map { index in
                OutgoingMessage(
                    topic: "orders.created",
                    key: Array("same-key".utf8),
                    value: try EventCodec.encode(orderCreated("b-\(index)"))
                )
            }
            for result in await producer.send(messages) { _ = try result.get() }
        }
        let group = "batches-\(UUID().uuidString)"
        try await withRunningClients(producer) {
            try await produce(0..<50)
            try await consumeInBatches(group: group)
            try await produce(50..<51)
        }
        let next = try KafkaConsumer(
            configuration: configuration.kafka,
            groupId: group,
            topics: ["orders.created"],
            logger: quietLogger
        )
        let resumed = try await withRunningClients(next) {
            var iterator = next.batches(maximum: 20).makeAsyncIterator()
            return await iterator.next()
        }
        #expect(resumed?.first?.offset == 50, "the group resumes right after the last stored offset")
    }

    /// Reads the 50 messages of `group`'s first life in batches, storing each batch's offsets.
    private func consumeInBatches(group: String) async throws {
        let consumer = try KafkaConsumer(
            configuration: configuration.kafka,
            groupId: group,
            topics: ["orders.created"],
            logger: quietLogger
        )
        let received = try await withRunningClients(consumer) {
            var received: [KafkaMessage] = []
            for await batch in consumer.batches(maximum: 20) {
                #expect(batch.count <= 20)
                received += batch
                consumer.storeOffsets(of: batch)
                if received.count >= 50 { break }
            }
            return received
        }
        #expect(
            received.map(\.offset) == Array(0..<50).map(Int64.init),
            "one partition's messages arrive in order, each once"
        )
    }
}
