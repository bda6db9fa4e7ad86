import Foundation
import ServiceLifecycle
import Testing

@_spi(Testing) @testable import Kafka

@Suite("Producer and consumer as Services")
struct KafkaClientServiceTests {
    @Test("a producer in a ServiceGroup delivers until the graceful shutdown, which is its shutdown(timeout:)")
    func producerGracefulShutdown() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "served", partitions: 1)])
        let producer = try TestKafka.producer(cluster)
        let group = ServiceGroup(services: [producer], logger: TestKafka.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let report = try await producer.send(topic: "served", key: nil, value: [1])
            #expect(report.partition == 0)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        // run() returned: the producer is shut down, and an explicit shutdown finds it done.
        #expect(producer.submit([OutgoingMessage(topic: "served", key: nil, value: [2])]).rejection == .shutDown)
        await producer.shutdown()
    }

    @Test(
        "a producer whose run() is cancelled shuts down without flushing: the undeliverable fails at once",
        .timeLimit(.minutes(1))
    )
    func producerCancelled() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "leaderless", partitions: 1)])
        try cluster.setPartitionLeader(topic: "leaderless", partition: 0, broker: nil)
        // A graceful budget that would outlast the test: only a cancellation can end it in time.
        let producer = try TestKafka.producer(cluster, shutdownTimeout: .seconds(600))
        let pending = producer.submit([OutgoingMessage(topic: "leaderless", key: nil, value: [1])])
        #expect(pending.accepted == 1)
        let running = Task { await producer.run() }
        running.cancel()
        await running.value
        let results = await pending.results()
        guard case .failure(let error) = results[0] else {
            Issue.record("a message without a leader was reported delivered")
            return
        }
        #expect(error.isTransient)
    }

    @Test("a consumer in a ServiceGroup closes on the graceful shutdown: its iteration ends, shutdown finds it closed")
    func consumerGracefulShutdown() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "consumed", partitions: 1)])
        let consumer = try TestKafka.consumer(cluster, group: "served", topics: ["consumed"])
        let group = ServiceGroup(services: [consumer], logger: TestKafka.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                // Ends only when the consumer stops delivering.
                for await _ in consumer.messages {}
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(await consumer.shutdown(timeout: .zero), "the consumer is not closed after run() returned")
    }
}
