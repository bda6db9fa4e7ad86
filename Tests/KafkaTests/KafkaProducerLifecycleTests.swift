import Foundation
import Testing

@_spi(Testing) @testable import Kafka

@Suite("Producer lifecycle: cancellation, shutdown, state machine")
struct KafkaProducerLifecycleTests {
    @Test("a cancelled send stops waiting with CancellationError; the message's report is still collected")
    func cancelledSend() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "stalled", partitions: 1)])
        // No leader: the message waits in librdkafka until one is back.
        try cluster.setPartitionLeader(topic: "stalled", partition: 0, broker: nil)
        let producer = try KafkaProducer(configuration: TestKafka.configuration(cluster), logger: TestKafka.logger)
        try await withRunningClients(producer) {
            let message = OutgoingMessage(topic: "stalled", key: Array("k".utf8), value: [1])

            let sending = Task { try await producer.send(topic: message.topic, key: message.key, value: message.value) }
            sending.cancel()
            await #expect(throws: CancellationError.self) { try await sending.value }

            let pending = producer.submit([message])
            let waiting = Task { try await pending.cancellableResults() }
            waiting.cancel()
            await #expect(throws: CancellationError.self) { try await waiting.value }

            try cluster.setPartitionLeader(topic: "stalled", partition: 0, broker: 1)
            let results = await pending.results()
            #expect(results.count == 1)
            #expect((try? results[0].get())?.partition == 0)
        }
    }

    @Test(
        "shutdown of a producer that never ran fails what cannot be delivered in time, so no waiter hangs; later submits fail with shutDown"
    )
    func shutdownFailsUndelivered() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "stuck", partitions: 1)])
        try cluster.setPartitionLeader(topic: "stuck", partition: 0, broker: nil)
        let producer = try KafkaProducer(configuration: TestKafka.configuration(cluster), logger: TestKafka.logger)
        let pending = producer.submit([OutgoingMessage(topic: "stuck", key: nil, value: [1])])
        #expect(pending.accepted == 1)
        // Two concurrent shutdowns: both return once the first has stopped the poll thread.
        async let first: Void = producer.shutdown(timeout: .milliseconds(200))
        async let second: Void = producer.shutdown(timeout: .milliseconds(200))
        _ = await (first, second)
        let results = await pending.results()
        guard case .failure(let error) = results[0] else {
            Issue.record("a message without a leader was reported delivered")
            return
        }
        #expect(error.isTransient)
        let late = producer.submit([OutgoingMessage(topic: "stuck", key: nil, value: [2])])
        #expect(late.accepted == 0)
        #expect(late.rejection == .shutDown)
    }

    @Test("a producer or consumer released without run() or shutdown lets its client go: no thread outlives it")
    func releasedClientsStopTheirThreads() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "dropped", partitions: 1)])
        weak var producerClient: RDKafkaClient?
        weak var consumerClient: RDKafkaClient?
        do {
            let producer = try KafkaProducer(configuration: TestKafka.configuration(cluster), logger: TestKafka.logger)
            let consumer = try TestKafka.consumer(cluster, group: "dropped", topics: ["dropped"])
            producerClient = producer.client
            consumerClient = consumer.client
        }
        // Only the short-lived threads that fail what is left (producer) and close (consumer) hold
        // the clients now; each lets go when done.
        let deadline = ContinuousClock.now + .seconds(15)
        while producerClient != nil || consumerClient != nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(producerClient == nil, "the producer's poll thread is still running")
        #expect(consumerClient == nil, "the consumer's poll thread is still running")
    }

    @Test(
        "the state machine accepts messages before and during run(), refuses them once shutdown began, lets one caller flush, then stops the thread"
    )
    func stateMachine() {
        var machine = ProducerStateMachine()
        #expect(machine.submit() == .enqueue)
        #expect(machine.run() == .startPollThread)
        #expect(machine.submit() == .enqueue)
        #expect(machine.shutdown() == .flush)
        #expect(machine.submit() == .reject)
        #expect(machine.shutdown() == .waitForShutdown)
        #expect(machine.flushed() == .stopPollThread)
        #expect(machine.submit() == .reject)
        #expect(machine.shutdown() == .waitForShutdown)
        // The thread exits before the flushing caller waits for it: the wait returns at once.
        #expect(machine.pollThreadExited() == nil)
        #expect(machine.pollThreadWaitTimedOut() == nil)
        #expect(machine.shutdownFinished().isEmpty)
        #expect(machine.submit() == .reject)
        #expect(machine.shutdown() == .none)
        // A run() after the shutdown has nothing to poll and returns at once.
        #expect(machine.run() == .waitForShutdown)
        #expect(machine.released() == .none)
    }

    @Test(
        "a producer shut down before run() starts its poll thread stopped, to fail what is left; run() then only waits"
    )
    func stateMachineShutdownBeforeRun() {
        var machine = ProducerStateMachine()
        #expect(machine.shutdown() == .flush)
        #expect(machine.run() == .waitForShutdown)
        #expect(machine.flushed() == .startStoppedPollThread)
        #expect(machine.pollThreadExited() == nil)
        #expect(machine.shutdownFinished().isEmpty)
        #expect(machine.run() == .waitForShutdown)
    }

    @Test("a producer released before run() starts its poll thread stopped; its late exit is absorbed")
    func stateMachineReleased() {
        var machine = ProducerStateMachine()
        #expect(machine.released() == .startStoppedPollThread)
        #expect(machine.pollThreadExited() == nil)
    }

    @Test("run() while it runs traps: a producer's poll loop runs once")
    func runTwiceTraps() async {
        await #expect(processExitsWith: .failure) {
            var machine = ProducerStateMachine()
            _ = machine.run()
            _ = machine.run()
        }
    }
}
