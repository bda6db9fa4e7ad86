import Foundation
import GRDB
@_spi(Testing) @testable import Kafka
import OrderEvents
@testable import ServiceKit
import Storage
import StorageTesting
import Testing

@Suite("Outbox relay against the embedded broker")
struct OutboxRelayTests {
    @Test("a relay stopped between commit and publish re-publishes on restart, and the consumer downstream dedupes")
    func crashBetweenPublishAndMark() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "payments.completed", partitions: 2)])
        let kafka = KafkaClientConfiguration(
            bootstrapServers: cluster.bootstrapServers,
            clientId: "relay-test",
            statisticsInterval: nil
        )
        let directory = try TemporaryDirectory()
        let store = try await EventStore(directory: directory.path, name: "upstream", topics: .defaults)

        // Three events committed to the outbox; nothing published yet (the "crash" before publish).
        for id in ["r-1", "r-2", "r-3"] {
            let event = orderCreated(id)
            _ = try await store.handle(event, topic: "orders.created", trace: nil) { transaction in
                try CountingHandler().handle(event, in: transaction).events
            }
        }
        #expect(try await store.pendingCount() == 3)

        // The relay's first life publishes r-1..r-3 but dies before marking them sent: publish
        // exactly what it would, without the mark.
        let producer = try KafkaProducer(configuration: kafka, logger: quietLogger)
        try await withRunningClients(producer) {
            let results = await producer.send(try await store.unsent(limit: 10).map(\.message))
            #expect(results.allSatisfy { (try? $0.get()) != nil })
            #expect(try await store.pendingCount() == 3)

            // The restarted relay publishes them again and marks them.
            let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger)
            #expect(await relay.publishBatch() == .published)
            #expect(try await store.pendingCount() == 0)
            #expect(await relay.publishBatch() == .idle)
        }

        // Downstream sees every event twice and applies each once.
        let messages = try await readTopic("payments.completed", from: cluster) { $0.count >= 6 }
        #expect(messages.count == 6)
        let downstream = try await EventStore(directory: directory.path, name: "downstream", topics: .defaults)
        var outcomes: [EventStore.Outcome] = []
        for message in messages {
            let event = try EventCodec.decode(message.value)
            outcomes.append(try await downstream.handle(event, topic: message.topic, trace: nil) { _ in [] }.0)
        }
        #expect(outcomes.filter { $0 == .processed }.count == 3)
        #expect(outcomes.filter { $0 == .duplicate }.count == 3)
    }

    @Test("per-order order is kept: events of one order reach the topic in outbox order")
    func outboxOrder() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "orders.created", partitions: 3)])
        let kafka = KafkaClientConfiguration(
            bootstrapServers: cluster.bootstrapServers,
            clientId: "relay-order",
            statisticsInterval: nil
        )
        let directory = try TemporaryDirectory()
        let store = try await EventStore(directory: directory.path, name: "svc", topics: .defaults)
        let events = (0..<60).map { orderCreated("key-\($0 % 4)", amount: "\($0 + 1)") }
        let written = events.map(\.eventId)
        try await store.database.write { transaction in
            for event in events { try store.enqueue([event], trace: nil, in: transaction) }
        }
        let producer = try KafkaProducer(configuration: kafka, logger: quietLogger)
        try await withRunningClients(producer) {
            let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger, batchSize: 7)
            while await relay.publishBatch() == .published {}
        }
        let messages = try await readTopic("orders.created", from: cluster) { $0.count >= 60 }
        let byKey = Dictionary(grouping: messages) { $0.keyString ?? "" }
        for (_, values) in byKey {
            let ids = try values.map { try EventCodec.decode($0.value).eventId }
            let expected = written.filter { ids.contains($0) }
            #expect(ids == expected)
        }
    }

    @Test("a row Kafka will never accept is set aside with its error; the rows behind it are published")
    func poisonRowSetAside() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "orders.created", partitions: 1)])
        let kafka = KafkaClientConfiguration(
            bootstrapServers: cluster.bootstrapServers,
            clientId: "relay-oversize",
            statisticsInterval: nil,
            properties: [KafkaProperty(name: "message.max.bytes", value: "4096", source: "test")]
        )
        let directory = try TemporaryDirectory()
        let store = try await EventStore(directory: directory.path, name: "svc", topics: .defaults)
        try await store.database.write { transaction in
            try store.enqueue([orderCreated("before")], trace: nil, in: transaction)
            try transaction.execute(
                "INSERT INTO outbox (topic, message_key, value, headers, created_at) VALUES ('orders.created', NULL, ?, '[]', '')",
                [Data(repeating: 0x61, count: 10_000)]
            )
            try store.enqueue([orderCreated("after")], trace: nil, in: transaction)
        }
        let producer = try KafkaProducer(configuration: kafka, logger: quietLogger)
        let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger)
        var rounds = 0
        try await withRunningClients(producer) {
            while await relay.publishBatch() == .published { rounds += 1 }
        }
        #expect(rounds >= 2)
        #expect(try await store.pendingCount() == 0)
        #expect(try await store.failedCount() == 1)
        let messages = try await readTopic("orders.created", from: cluster) { $0.count >= 2 }
        #expect(messages.compactMap(\.keyString) == ["before", "after"])
    }

    @Test("a fatal producer error stops the relay with an error (the service exits and is restarted); rows stay")
    func fatalProducerError() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "orders.created", partitions: 1)])
        let kafka = KafkaClientConfiguration(
            bootstrapServers: cluster.bootstrapServers,
            clientId: "relay-fatal",
            statisticsInterval: nil
        )
        let directory = try TemporaryDirectory()
        let store = try await EventStore(directory: directory.path, name: "svc", topics: .defaults)
        try await store.database.write { transaction in
            try store.enqueue([orderCreated("stuck")], trace: nil, in: transaction)
        }
        let producer = try KafkaProducer(configuration: kafka, logger: quietLogger)
        try await withRunningClients(producer) {
            producer.raiseFatalErrorForTesting("injected by the test")
            #expect(producer.fatalError != nil)
            let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger)
            await #expect(throws: OutboxRelay.RelayError.self) { try await relay.run() }
        }
        #expect(try await store.pendingCount() == 1)
    }

    @Test(
        "while the broker is down rows stay in the outbox (a transient failure, retried); once it is back they are published"
    )
    func brokerDown() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "orders.created", partitions: 1)])
        let kafka = KafkaClientConfiguration(
            bootstrapServers: cluster.bootstrapServers,
            clientId: "relay-down",
            statisticsInterval: nil,
            properties: [KafkaProperty(name: "message.timeout.ms", value: "1500", source: "test")]
        )
        let directory = try TemporaryDirectory()
        let store = try await EventStore(directory: directory.path, name: "svc", topics: .defaults)
        try await store.database.write { transaction in
            try store.enqueue([orderCreated("down-1"), orderCreated("down-2")], trace: nil, in: transaction)
        }
        let producer = try KafkaProducer(configuration: kafka, logger: quietLogger)
        try await withRunningClients(producer) {
            let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger)
            try cluster.setBroker(1, up: false)
            #expect(await relay.publishBatch() == .failed)
            #expect(try await store.pendingCount() == 2)
            #expect(try await store.failedCount() == 0)
            try cluster.setBroker(1, up: true)
            var result = OutboxRelay.BatchResult.failed
            let deadline = ContinuousClock.now + .seconds(30)
            while result == .failed, ContinuousClock.now < deadline { result = await relay.publishBatch() }
            #expect(result == .published)
            #expect(try await store.pendingCount() == 0)
        }
        let messages = try await readTopic("orders.created", from: cluster) {
            Set($0.compactMap(\.keyString)).count >= 2
        }
        #expect(Set(messages.compactMap(\.keyString)) == ["down-1", "down-2"])
    }

    @Test(
        "a row failing transiently holds back only its own key: other keys flow, and the failed key keeps its order once it recovers"
    )
    func transientFailureHoldsOnlyItsKey() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [
            TopicSpecification(name: "orders.created", partitions: 2)
        ])
        let kafka = KafkaClientConfiguration(
            bootstrapServers: cluster.bootstrapServers,
            clientId: "relay-hold",
            statisticsInterval: nil,
            properties: [KafkaProperty(name: "message.timeout.ms", value: "2000", source: "test")]
        )
        let (stuck, flowing) = try await keysOnPartitions(0, 1, of: 2, cluster: cluster)
        // Partition 0 loses its leader: its messages fail with a transient timeout, partition 1 works.
        try cluster.setPartitionLeader(topic: "orders.created", partition: 0, broker: nil)
        let directory = try TemporaryDirectory()
        let store = try await EventStore(directory: directory.path, name: "svc", topics: .defaults)
        let first = (0..<6).map { orderCreated($0 % 2 == 0 ? stuck : flowing, amount: "\($0 + 1)") }
        try await store.database.write { transaction in
            for event in first { try store.enqueue([event], trace: nil, in: transaction) }
        }
        let second = (6..<10).map { orderCreated($0 % 2 == 0 ? stuck : flowing, amount: "\($0 + 1)") }
        let producer = try KafkaProducer(configuration: kafka, logger: quietLogger)
        let relay = OutboxRelay(
            store: store,
            producer: producer,
            logger: quietLogger,
            batchSize: 4,
            retryBackoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(200))
        )
        try await withRunningClients(producer) {
            let running = Task { try await relay.run() }

            try await waitUntil { try await unsentCount(store, key: flowing) == 0 }
            #expect(try await unsentCount(store, key: stuck) == 3)
            // A message enqueued after the relay's rows times out after them: once it has failed, the
            // stuck key's rows have failed at least once and are held back.
            let probe = await producer.send([
                OutgoingMessage(topic: "orders.created", key: Array(stuck.utf8), value: [0])
            ])
            #expect(probe.first.map { if case .failure(let error) = $0 { error.isTransient } else { false } } == true)

            // Rows written while the key is held: the other key's pass, the stuck key's wait behind it.
            try await store.database.write { transaction in
                for event in second { try store.enqueue([event], trace: nil, in: transaction) }
            }
            relay.wake()
            try await waitUntil { try await unsentCount(store, key: flowing) == 0 }
            #expect(try await unsentCount(store, key: stuck) == 5)
            #expect(try await store.failedCount() == 0)

            // The partition gets its leader back: the stuck key's rows are re-sent in order.
            try cluster.setPartitionLeader(topic: "orders.created", partition: 0, broker: 1)
            try await waitUntil { try await store.pendingCount() == 0 }
            running.cancel()
            try await running.value
        }
        #expect(try await store.failedCount() == 0)

        let written = first + second
        let messages = try await readTopic("orders.created", from: cluster) { messages in
            Set(messages.compactMap { try? EventCodec.decode($0.value).eventId }).count >= written.count
        }
        try expectPerKeyOrder(messages, written: written)
    }

    @Test("pipelining: many batches in flight, every row published once marked, in order per key")
    func pipelinedBatches() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "orders.created", partitions: 3)])
        let kafka = KafkaClientConfiguration(
            bootstrapServers: cluster.bootstrapServers,
            clientId: "relay-pipe",
            statisticsInterval: nil
        )
        let directory = try TemporaryDirectory()
        let store = try await EventStore(directory: directory.path, name: "svc", topics: .defaults)
        let events = (0..<250).map { orderCreated("key-\($0 % 5)", amount: "\($0 + 1)") }
        try await store.database.write { transaction in
            for event in events.prefix(200) { try store.enqueue([event], trace: nil, in: transaction) }
        }
        let producer = try KafkaProducer(configuration: kafka, logger: quietLogger)
        let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger, batchSize: 10, pipelineDepth: 4)
        try await withRunningClients(producer) {
            let running = Task { try await relay.run() }
            // Rows committed while the relay is busy are picked up behind the others.
            try await store.database.write { transaction in
                for event in events.suffix(50) { try store.enqueue([event], trace: nil, in: transaction) }
            }
            relay.wake()
            // 25 batches through one relay: under the whole parallel suite (the fuzz suites keep
            // both cores busy) this has taken more than 30 s.
            try await waitUntil(timeout: .seconds(120)) { try await store.pendingCount() == 0 }
            running.cancel()
            try await running.value
        }
        let messages = try await readTopic("orders.created", from: cluster) { $0.count >= events.count }
        #expect(messages.count == events.count)
        try expectPerKeyOrder(messages, written: events)
    }

    @Test("the relay prunes sent outbox rows and inbox entries past their retention, and nothing else")
    func relayPrunes() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "orders.created", partitions: 1)])
        let kafka = KafkaClientConfiguration(
            bootstrapServers: cluster.bootstrapServers,
            clientId: "relay-prune",
            statisticsInterval: nil
        )
        let directory = try TemporaryDirectory()
        let store = try await EventStore(directory: directory.path, name: "svc", topics: .defaults)
        let now = Date()
        try await seedForPruning(store, now: now)
        let producer = try KafkaProducer(configuration: kafka, logger: quietLogger)
        try await withRunningClients(producer) {
            let relay = OutboxRelay(
                store: store,
                producer: producer,
                logger: quietLogger,
                outboxRetention: .seconds(600),
                inboxRetention: .seconds(7 * 24 * 3600)
            )
            await relay.prune(now: now)
        }
        try await expectPrunedSeed(store)
    }
}

/// Finds a key that the default partitioner puts on partition `a` and one on `b` of a topic with
/// `partitions` partitions (the choice depends only on the key and the partition count).
func keysOnPartitions(
    _ a: Int32,
    _ b: Int32,
    of partitions: Int,
    cluster: EmbeddedKafkaCluster
) async throws -> (String, String) {
    try cluster.createTopic(TopicSpecification(name: "probe-\(partitions)", partitions: partitions))
    // Default timeouts: on a busy machine the first send may take a while.
    let probe = try KafkaProducer(
        configuration: KafkaClientConfiguration(
            bootstrapServers: cluster.bootstrapServers,
            clientId: "probe",
            statisticsInterval: nil
        ),
        logger: quietLogger
    )
    var found: [Int32: String] = [:]
    try await withRunningClients(probe) {
        for index in 0..<64 where found[a] == nil || found[b] == nil {
            let key = "order-\(index)"
            let report = try await probe.send(topic: "probe-\(partitions)", key: Array(key.utf8), value: [0])
            if found[report.partition] == nil { found[report.partition] = key }
        }
    }
    return (try #require(found[a]), try #require(found[b]))
}

func unsentCount(_ store: EventStore, key: String) async throws -> Int {
    try await store.database.read { transaction in
        try transaction.fetchValue(
            Int.self,
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL AND message_key = ?",
            [Data(key.utf8)]
        ) ?? 0
    }
}

/// Every written event reached the topic, and per key the first copies come in written order
/// (a re-sent row may repeat; consumers drop the repeat by event id).
func expectPerKeyOrder(_ messages: [KafkaMessage], written: [EventEnvelope]) throws {
    var seen: Set<UUID> = []
    var firstCopies: [String: [UUID]] = [:]
    for message in messages {
        let event = try EventCodec.decode(message.value)
        guard seen.insert(event.eventId).inserted else { continue }
        firstCopies[message.keyString ?? "", default: []].append(event.eventId)
    }
    #expect(seen == Set(written.map(\.eventId)))
    for (key, ids) in firstCopies {
        #expect(ids == written.filter { $0.key == key }.map(\.eventId), "order of key \(key)")
    }
}
