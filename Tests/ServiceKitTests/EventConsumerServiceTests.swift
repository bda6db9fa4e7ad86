import Foundation
import GRDB
import Kafka
import OrderEvents
@testable import ServiceKit
import Synchronization
import Storage
import StorageTesting
import Testing

@Suite("The consume loop: poison messages and rebalancing")
struct EventConsumerServiceTests {
    private func configuration(_ cluster: EmbeddedKafkaCluster, directory: String) throws -> ServiceConfiguration {
        let identity = ServiceIdentity(name: "loop-test", metricsPort: 0, groupIdVariable: "LOOP_GROUP_ID") {
            [$0.ordersCreated]
        }
        return try ServiceConfiguration(
            identity: identity,
            environment: [
                "KAFKA_BROKERS": cluster.bootstrapServers, "DATA_DIR": directory,
                "KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            ]
        )
    }

    @Test(
        "a poison record goes once to <topic>.dlq with its bytes, headers and source position; the partition moves on"
    )
    func poison() async throws {
        let cluster = try EmbeddedKafkaCluster(
            topics: Topics.defaults.allWithDeadLetters.map { TopicSpecification(name: $0, partitions: 1) }
        )
        let directory = try TemporaryDirectory()
        let configuration = try configuration(cluster, directory: directory.path)
        let store = try await EventStore(directory: directory.path, name: "loop", topics: .defaults)
        let producer = try KafkaProducer(configuration: configuration.kafka, logger: quietLogger)
        let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger)
        let handler = CountingHandler()
        let loop = consumerService(configuration, store: store, handler: handler, relay: relay)

        let poisonBytes = Array("{not json".utf8)
        let poison = KafkaMessage(
            topic: "orders.created",
            partition: 0,
            offset: 7,
            key: Array("k".utf8),
            value: poisonBytes,
            headers: [KafkaHeader(name: "origin", string: "test")]
        )
        var unknownVersion = try EventCodec.encode(orderCreated("v9"))
        unknownVersion = Array(
            String(decoding: unknownVersion, as: UTF8.self).replacingOccurrences(
                of: "\"version\":1",
                with: "\"version\":9"
            ).utf8
        )
        let future = KafkaMessage(topic: "orders.created", partition: 0, offset: 8, key: nil, value: unknownVersion)
        let valid = KafkaMessage(
            topic: "orders.created",
            partition: 0,
            offset: 9,
            key: nil,
            value: try EventCodec.encode(orderCreated("ok-1"))
        )

        #expect(await loop.process(poison))
        #expect(await loop.process(poison))  // redelivered after a crash: recorded once
        #expect(await loop.process(future))
        #expect(await loop.process(valid))
        #expect(handler.totalApplied == 1)

        try await withRunningClients(producer) {
            while await relay.publishBatch() == .published {}
        }
        let dead = try await readTopic("orders.created.dlq", from: cluster) { $0.count >= 2 }
        #expect(dead.count == 2)
        let first = try #require(dead.first { $0.header("dlq-source-offset") == "7" })
        #expect(first.value == poisonBytes)
        #expect(first.key == Array("k".utf8))
        #expect(first.header("origin") == "test")
        #expect(first.header("dlq-source-topic") == "orders.created")
        #expect(first.header("dlq-source-partition") == "0")
        #expect(first.header("dlq-error")?.contains("malformed") == true)
        let second = try #require(dead.first { $0.header("dlq-source-offset") == "8" })
        #expect(second.header("dlq-error")?.contains("unsupported version 9") == true)
    }

    @Test("two consume loops sharing a service's store rebalance without applying any event twice")
    func rebalanceAppliesOnce() async throws {
        let cluster = try EmbeddedKafkaCluster(
            topics: Topics.defaults.allWithDeadLetters.map { TopicSpecification(name: $0, partitions: 4) }
        )
        let directory = try TemporaryDirectory()
        let configuration = try configuration(cluster, directory: directory.path)
        let store = try await EventStore(directory: directory.path, name: "shared", topics: .defaults)
        let handler = CountingHandler()
        let producer = try KafkaProducer(configuration: configuration.kafka, logger: quietLogger)
        let total = 300

        func publish(_ range: Range<Int>) async throws {
            let messages = try range.map { index in
                let event = orderCreated("o-\(index)")
                return OutgoingMessage(
                    topic: "orders.created",
                    key: Array(event.key.utf8),
                    value: try EventCodec.encode(event)
                )
            }
            for result in await producer.send(messages) { _ = try result.get() }
        }

        func member() throws -> (KafkaConsumer, Task<Void, Never>) {
            let consumer = try KafkaConsumer(
                configuration: configuration.kafka,
                groupId: "shared-group",
                topics: ["orders.created"],
                logger: quietLogger
            )
            let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger)
            let loop = consumerService(configuration, store: store, handler: handler, relay: relay)
            let task = Task {
                _ = try? await withRunningClients(consumer) {
                    for await message in consumer.messages {
                        guard await loop.process(message) else { return }
                        consumer.storeOffset(of: message)
                    }
                }
            }
            return (consumer, task)
        }

        try await withRunningClients(producer) {
            try await publish(0..<100)
            let (a, runA) = try member()
            try await waitUntil { handler.totalApplied >= 30 }
            let (b, runB) = try member()
            try await publish(100..<total)
            try await waitUntil(timeout: .seconds(60)) { handler.applied.withLock { $0.count } == total }
            await a.shutdown()
            await b.shutdown()
            _ = await (runA.value, runB.value)
        }

        let counts = handler.applied.withLock { $0 }
        #expect(counts.count == total)
        #expect(counts.values.allSatisfy { $0 == 1 }, "some events were applied more than once")
        #expect(try await store.pendingCount() == total)
    }
}
