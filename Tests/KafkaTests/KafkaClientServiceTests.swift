import Foundation
import ServiceLifecycle
import Synchronization
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

    @Test("run() returns after an explicit shutdown, of a producer and of a consumer", .timeLimit(.minutes(1)))
    func runReturnsAfterExplicitShutdown() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "explicit", partitions: 1)])
        let producer = try TestKafka.producer(cluster)
        let consumer = try TestKafka.consumer(cluster, group: "explicit", topics: ["explicit"])
        let producing = Task { await producer.run() }
        let consuming = Task { try await consumer.run() }
        let report = try await producer.send(topic: "explicit", key: nil, value: [1])
        #expect(report.offset == 0)
        let received = try await collect(from: consumer) { $0.count == 1 }
        #expect(received.first?.value == [1])
        await producer.shutdown()
        await producing.value
        #expect(await consumer.shutdown())
        try await consuming.value
    }

    @Test("a producer accepts messages before run(); their reports arrive once run() polls")
    func producerBeforeRun() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "early", partitions: 1)])
        let producer = try TestKafka.producer(cluster)
        let pending = producer.submit([OutgoingMessage(topic: "early", key: nil, value: [1])])
        #expect(pending.accepted == 1)
        let results = try await withRunningClients(producer) { await pending.results() }
        #expect((try? results[0].get())?.offset == 0)
    }

    @Test(
        "a consumer is inert until run(): a member created but not run does not join, so the running one gets every partition"
    )
    func consumerInertUntilRun() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "inert", partitions: 2)])
        let idle = try TestKafka.consumer(cluster, group: "inert", topics: ["inert"])
        let assigned = Mutex<Set<TopicPartition>?>(nil)
        var configuration = TestKafka.configuration(cluster)
        configuration.properties = [KafkaProperty(name: "session.timeout.ms", value: "6000", source: "test")]
        let running = try KafkaConsumer(
            configuration: configuration,
            groupId: "inert",
            topics: ["inert"],
            logger: TestKafka.logger,
            onAssignment: { partitions in assigned.withLock { $0 = partitions } }
        )
        try await withRunningClients(running) {
            let deadline = ContinuousClock.now + .seconds(30)
            while assigned.withLock({ $0 }) == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        #expect(
            assigned.withLock { $0 } == [
                TopicPartition(topic: "inert", partition: 0), TopicPartition(topic: "inert", partition: 1),
            ]
        )
        // Never run: its shutdown still completes and closes it.
        #expect(await idle.shutdown(timeout: .seconds(10)))
    }

    @Test("withRunningClients inside a Service: the group's graceful shutdown does not stop the client, the scope does")
    func scopeOutlivesGracefulShutdown() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "scoped", partitions: 1)])
        let producer = try TestKafka.producer(cluster)
        let sender = SendAfterGracefulShutdown(producer: producer)
        let group = ServiceGroup(services: [sender], logger: TestKafka.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(sender.report.withLock { $0 }?.offset == 0)
        #expect(producer.submit([OutgoingMessage(topic: "scoped", key: nil, value: [2])]).rejection == .shutDown)
    }
}

/// Sends one message after its group's graceful shutdown began, through a producer it runs for
/// the length of its own `run()`.
private final class SendAfterGracefulShutdown: Service, Sendable {
    let producer: KafkaProducer
    let report = Mutex<DeliveryReport?>(nil)

    init(producer: KafkaProducer) {
        self.producer = producer
    }

    func run() async throws {
        try await withRunningClients(producer) {
            try await gracefulShutdown()
            let delivered = try await producer.send(topic: "scoped", key: nil, value: [1])
            report.withLock { $0 = delivered }
        }
    }
}
