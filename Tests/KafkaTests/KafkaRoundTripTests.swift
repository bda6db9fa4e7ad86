import Foundation
import Kafka
import Testing

@Suite("Kafka producer and consumer on the embedded cluster")
struct KafkaRoundTripTests {
    @Test("a message round-trips with key, value and headers; send reports partition and offset")
    func roundTrip() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "rt", partitions: 3)])
        let producer = try KafkaProducer(configuration: TestKafka.configuration(cluster), logger: TestKafka.logger)
        let report = try await withRunningClients(producer) {
            try await producer.send(
                topic: "rt",
                key: Array("order-1".utf8),
                value: Array("hello".utf8),
                headers: [KafkaHeader(name: "event-type", string: "OrderCreated")]
            )
        }
        #expect(report.topic == "rt")
        #expect((0..<3).contains(report.partition))
        #expect(report.offset == 0)

        let consumer = try TestKafka.consumer(cluster, group: "g-rt", topics: ["rt"])
        let messages = try await withRunningClients(consumer) { try await collect(from: consumer) { $0.count == 1 } }
        let message = try #require(messages.first)
        #expect(message.keyString == "order-1")
        #expect(message.value == Array("hello".utf8))
        #expect(message.header("event-type") == "OrderCreated")
        #expect(message.partition == report.partition)
        #expect(message.offset == report.offset)
    }

    @Test("500 sends in flight at once all get distinct delivery reports")
    func concurrentSends() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "burst", partitions: 2)])
        let producer = try KafkaProducer(configuration: TestKafka.configuration(cluster), logger: TestKafka.logger)
        let reports = try await withRunningClients(producer) {
            try await withThrowingTaskGroup(of: DeliveryReport.self) { group in
                for index in 0..<500 {
                    group.addTask {
                        try await producer.send(
                            topic: "burst",
                            key: Array("k\(index % 7)".utf8),
                            value: Array("\(index)".utf8)
                        )
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(reports.count == 500)
        #expect(Set(reports.map { "\($0.partition)/\($0.offset)" }).count == 500)
    }

    @Test("per-key order holds across partitions")
    func perKeyOrder() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "ordered", partitions: 4)])
        let producer = try KafkaProducer(configuration: TestKafka.configuration(cluster), logger: TestKafka.logger)
        let keys = (0..<8).map { "key-\($0)" }
        let perKey = 40
        try await withRunningClients(producer) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for key in keys {
                    group.addTask {
                        for sequence in 0..<perKey {
                            _ = try await producer.send(
                                topic: "ordered",
                                key: Array(key.utf8),
                                value: Array("\(sequence)".utf8)
                            )
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let consumer = try TestKafka.consumer(cluster, group: "g-ordered", topics: ["ordered"])
        let messages = try await withRunningClients(consumer) {
            try await collect(from: consumer) { $0.count == keys.count * perKey }
        }
        let byKey = Dictionary(grouping: messages) { $0.keyString ?? "" }
        #expect(byKey.keys.sorted() == keys.sorted())
        for (key, values) in byKey {
            #expect(Set(values.map(\.partition)).count == 1, "key \(key) spread over partitions")
            let sequence = values.map { Int(String(decoding: $0.value, as: UTF8.self))! }
            #expect(sequence == Array(0..<perKey), "key \(key) out of order")
        }
    }
}

@Suite("Consumer hand-over")
struct ConsumerHandOverTests {
    @Test("a task waiting for the next message is released when cancelled")
    func cancellationReleasesTheWaiter() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "idle", partitions: 1)])
        let consumer = try TestKafka.consumer(cluster, group: "g-idle", topics: ["idle"])
        try await withRunningClients(consumer) {
            let waiting = Task { () -> KafkaMessage? in
                var iterator = consumer.messages.makeAsyncIterator()
                return await iterator.next()
            }
            waiting.cancel()
            #expect(await waiting.value == nil)
            #expect(await consumer.shutdown(timeout: .seconds(10)))
        }
    }
}
