import Foundation
import GRDB
@testable import Kafka
import OrderEvents
@testable import ServiceKit
import Testing

@Suite("Outbox relay against the embedded broker")
struct OutboxRelayTests {
    @Test("a relay stopped between commit and publish re-publishes on restart, and the consumer downstream dedupes")
    func crashBetweenPublishAndMark() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "payments.completed", partitions: 2)])
        let kafka = KafkaClientConfiguration(bootstrapServers: cluster.bootstrapServers, clientId: "relay-test", statisticsInterval: nil)
        let directory = try TemporaryDirectory()
        let store = try EventStore(directory: directory.path, name: "upstream", topics: .defaults)

        // Three events committed to the outbox; nothing published yet (the "crash" before publish).
        for id in ["r-1", "r-2", "r-3"] {
            let event = orderCreated(id)
            _ = try await store.handle(event, topic: "orders.created", trace: nil) { db in try CountingHandler().handle(event, in: db).events }
        }
        #expect(try await store.pendingCount() == 3)

        // The relay's first life publishes r-1..r-3 but dies before marking them sent: publish
        // exactly what it would, without the mark.
        let producer = try KafkaProducer(configuration: kafka, logger: quietLogger)
        let results = await producer.send(try await store.unsent(limit: 10).map(\.message))
        #expect(results.allSatisfy { (try? $0.get()) != nil })
        #expect(try await store.pendingCount() == 3)

        // The restarted relay publishes them again and marks them.
        let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger)
        #expect(await relay.publishBatch() == .published)
        #expect(try await store.pendingCount() == 0)
        #expect(await relay.publishBatch() == .idle)
        await producer.shutdown()

        // Downstream sees every event twice and applies each once.
        let messages = try await readTopic("payments.completed", from: cluster) { $0.count >= 6 }
        #expect(messages.count == 6)
        let downstream = try EventStore(directory: directory.path, name: "downstream", topics: .defaults)
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
        let kafka = KafkaClientConfiguration(bootstrapServers: cluster.bootstrapServers, clientId: "relay-order", statisticsInterval: nil)
        let directory = try TemporaryDirectory()
        let store = try EventStore(directory: directory.path, name: "svc", topics: .defaults)
        let events = (0..<60).map { orderCreated("key-\($0 % 4)", amount: "\($0 + 1)") }
        let written = events.map(\.eventId)
        try await store.database.write { db in
            for event in events { try store.enqueue([event], trace: nil, in: db) }
        }
        let producer = try KafkaProducer(configuration: kafka, logger: quietLogger)
        let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger, batchSize: 7)
        while await relay.publishBatch() == .published {}
        await producer.shutdown()
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
            bootstrapServers: cluster.bootstrapServers, clientId: "relay-oversize", statisticsInterval: nil,
            properties: [KafkaProperty(name: "message.max.bytes", value: "4096", source: "test")]
        )
        let directory = try TemporaryDirectory()
        let store = try EventStore(directory: directory.path, name: "svc", topics: .defaults)
        try await store.database.write { db in
            try store.enqueue([orderCreated("before")], trace: nil, in: db)
            try db.execute(
                sql: "INSERT INTO outbox (topic, message_key, value, headers, created_at) VALUES ('orders.created', NULL, ?, '[]', '')",
                arguments: [Data(repeating: 0x61, count: 10_000)]
            )
            try store.enqueue([orderCreated("after")], trace: nil, in: db)
        }
        let producer = try KafkaProducer(configuration: kafka, logger: quietLogger)
        let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger)
        var rounds = 0
        while await relay.publishBatch() == .published { rounds += 1 }
        await producer.shutdown()
        #expect(rounds >= 2)
        #expect(try await store.pendingCount() == 0)
        #expect(try await store.failedCount() == 1)
        let messages = try await readTopic("orders.created", from: cluster) { $0.count >= 2 }
        #expect(messages.compactMap(\.keyString) == ["before", "after"])
    }

    @Test("a fatal producer error stops the relay with an error (the service exits and is restarted); rows stay")
    func fatalProducerError() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "orders.created", partitions: 1)])
        let kafka = KafkaClientConfiguration(bootstrapServers: cluster.bootstrapServers, clientId: "relay-fatal", statisticsInterval: nil)
        let directory = try TemporaryDirectory()
        let store = try EventStore(directory: directory.path, name: "svc", topics: .defaults)
        try await store.database.write { db in try store.enqueue([orderCreated("stuck")], trace: nil, in: db) }
        let producer = try KafkaProducer(configuration: kafka, logger: quietLogger)
        producer.raiseFatalErrorForTesting("injected by the test")
        #expect(producer.fatalError != nil)
        let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger)
        await #expect(throws: OutboxRelay.RelayError.self) { try await relay.run() }
        #expect(try await store.pendingCount() == 1)
    }

    @Test("while the broker is down rows stay in the outbox (a transient failure, retried); once it is back they are published")
    func brokerDown() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "orders.created", partitions: 1)])
        let kafka = KafkaClientConfiguration(
            bootstrapServers: cluster.bootstrapServers, clientId: "relay-down", statisticsInterval: nil,
            properties: [KafkaProperty(name: "message.timeout.ms", value: "1500", source: "test")]
        )
        let directory = try TemporaryDirectory()
        let store = try EventStore(directory: directory.path, name: "svc", topics: .defaults)
        try await store.database.write { db in
            try store.enqueue([orderCreated("down-1"), orderCreated("down-2")], trace: nil, in: db)
        }
        let producer = try KafkaProducer(configuration: kafka, logger: quietLogger)
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
        await producer.shutdown()
        let messages = try await readTopic("orders.created", from: cluster) { Set($0.compactMap(\.keyString)).count >= 2 }
        #expect(Set(messages.compactMap(\.keyString)) == ["down-1", "down-2"])
    }
}
