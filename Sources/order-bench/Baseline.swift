import Foundation
import Histogram
import Kafka
import Logging
import OrderEvents
import Synchronization

/// What raw librdkafka achieves through the platform's broker, to compare the platform with:
/// the same broker, the same client settings, messages the size of an `orders.created` event.
///
/// - Throughput: ``Figures/messagesPerSecond`` = messages ÷ (first send → last consumed), with
///   everything produced as fast as the producer takes it.
/// - Latency of one hop: produce call → consumed, at a steady 200 msg/s for about 2 s.
struct Baseline: Sendable {
    /// JSON: `{topic, messageBytes, messages, messagesPerSecond, hopLatencyMs}`.
    struct Figures: Codable, Sendable, Hashable {
        var topic: String
        var messageBytes: Int
        var messages: Int
        var messagesPerSecond: Double
        var hopLatencyMs: LatencySummary
    }

    static let hopRate = 200
    static let hopDuration = Duration.seconds(2)

    var brokers: String
    var properties: [KafkaProperty]
    var settings: BenchSettings
    var messages: Int
    /// The mock broker of a hosted platform (topics are auto-created, there is no admin API).
    var embeddedBroker: Bool
    var logger: Logger

    func run() async throws(BenchError) -> Figures {
        let topic = settings.baselineTopic
        let clientConfiguration = KafkaClientConfiguration(
            bootstrapServers: brokers,
            clientId: "order-bench-baseline",
            statisticsInterval: nil,
            properties: properties
        )
        let producer: KafkaProducer
        do {
            producer = try KafkaProducer(
                configuration: clientConfiguration,
                logger: logger,
                shutdownTimeout: .seconds(2)
            )
        } catch {
            throw .kafka("baseline producer: \(error)")
        }
        do {
            return try await withRunningClients(producer) {
                try await createTopic(topic, producer: producer, configuration: clientConfiguration)
                let tally = Tally()
                let consumer = try makeConsumer(topic, configuration: clientConfiguration, tally: tally)
                return try await withRunningClients(consumer) {
                    try await tally.waitForAssignment(timeout: .seconds(30))
                    return try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { await Self.consume(consumer, into: tally) }
                        // The reader ends when cancelled (its next() returns nil), on success or failure.
                        defer { group.cancelAll() }
                        let throughput = try await measureThroughput(topic, producer: producer, tally: tally)
                        let hop = try await measureHop(topic, producer: producer, tally: tally)
                        return Figures(
                            topic: topic,
                            messageBytes: Self.payload.count,
                            messages: messages,
                            messagesPerSecond: throughput,
                            hopLatencyMs: LatencySummary(hop)
                        )
                    }
                }
            }
        } catch let error as BenchError {
            throw error
        } catch {
            throw .kafka("baseline: \(error)")
        }
    }

    /// An `orders.created` event as order-service writes it, so each message has its size.
    static let payload: [UInt8] = {
        let created = OrderCreated(
            amount: Amount(uncheckedMinorUnits: 4200),
            currency: "USD",
            customerEmail: "bench@example.com",
            items: [LineItem(sku: "SKU-1", quantity: 1)]
        )
        let envelope = EventEnvelope(
            orderId: "bench-00000000-1000000",
            correlationId: UUID().uuidString,
            payload: .orderCreated(created)
        )
        return (try? EventCodec.encode(envelope)) ?? [UInt8](repeating: UInt8(ascii: "x"), count: 400)
    }()

    private static let headers = [
        KafkaHeader(name: EventHeader.eventType, string: EventType.orderCreated.rawValue),
        KafkaHeader(name: EventHeader.traceparent, string: TraceContext.root().description),
    ]

    /// Makes sure the topic exists before the consumer subscribes (a subscription to a missing
    /// topic is only noticed at the next metadata refresh, minutes later). On a real cluster the
    /// admin API creates it; the embedded mock broker does not implement CreateTopics
    /// (rdkafka_mock.h) but creates a topic on a producer's first metadata request, which the
    /// priming message triggers. The priming message also proves the topic writable.
    private func createTopic(
        _ topic: String,
        producer: KafkaProducer,
        configuration: KafkaClientConfiguration
    ) async throws {
        if !embeddedBroker {
            do {
                try await KafkaAdmin.ensureTopics(
                    [TopicSpecification(name: topic, partitions: 3)],
                    configuration: configuration,
                    timeout: .seconds(10),
                    logger: logger
                )
            } catch {
                logger.warning("could not create \(topic) (\(error)); relying on the broker's auto-creation")
            }
        }
        do {
            _ = try await producer.send(
                topic: topic,
                key: Array("prime".utf8),
                value: Self.payload,
                headers: Self.headers
            )
        } catch {
            throw BenchError.kafka("cannot produce to \(topic): \(error)")
        }
    }

    private func makeConsumer(
        _ topic: String,
        configuration: KafkaClientConfiguration,
        tally: Tally
    ) throws -> KafkaConsumer {
        try KafkaConsumer(
            configuration: configuration,
            groupId: "order-bench-baseline-\(settings.runId)",
            topics: [topic],
            bufferCapacity: 4096,
            logger: logger,
            onAssignment: { _ in tally.assigned() }
        )
    }

    private static func consume(_ consumer: KafkaConsumer, into tally: Tally) async {
        for await message in consumer.messages {
            let now = ContinuousClock.now
            consumer.storeOffset(of: message)
            tally.consumed(key: message.keyString ?? "", at: now)
        }
    }

    /// Everything enqueued at once, in batches awaited concurrently.
    private func measureThroughput(_ topic: String, producer: KafkaProducer, tally: Tally) async throws -> Double {
        let batch = 1000
        let start = ContinuousClock.now
        let failures = await withTaskGroup(of: Int.self) { group in
            for first in stride(from: 0, to: messages, by: batch) {
                let outgoing = (first..<min(first + batch, messages)).map { _ in
                    OutgoingMessage(topic: topic, key: Array("t".utf8), value: Self.payload, headers: Self.headers)
                }
                group.addTask { await producer.send(outgoing).count { (try? $0.get()) == nil } }
            }
            return await group.reduce(0, +)
        }
        guard failures == 0 else {
            throw BenchError.kafka("baseline: \(failures) of \(messages) messages were not delivered")
        }
        let last = try await tally.waitForThroughput(messages, timeout: .seconds(120))
        return Double(messages) / (last - start).inSeconds
    }

    /// One message every 1/hopRate s; each hop timed from its produce call to its consumption.
    private func measureHop(_ topic: String, producer: KafkaProducer, tally: Tally) async throws -> Histogram<UInt64> {
        let count = Self.hopRate * Int(Self.hopDuration.components.seconds)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                try await Task.sleep(until: start + .seconds(Double(index) / Double(Self.hopRate)), clock: .continuous)
                tally.sent(hop: index, at: .now)
                let message = OutgoingMessage(
                    topic: topic,
                    key: Array("h\(index)".utf8),
                    value: Self.payload,
                    headers: Self.headers
                )
                group.addTask {
                    if case .failure(let error) = await producer.send([message])[0] {
                        throw BenchError.kafka("baseline hop message not delivered: \(error)")
                    }
                }
            }
            try await group.waitForAll()
        }
        return try await tally.waitForHops(count, timeout: .seconds(30))
    }
}

/// The baseline consumer's counts, shared between its reading task and the measuring one.
private final class Tally: Sendable {
    private struct State {
        var isAssigned = false
        var throughputConsumed = 0
        var lastThroughputConsumed: ContinuousClock.Instant?
        var hopSent: [Int: ContinuousClock.Instant] = [:]
        var hopsConsumed = 0
        var hops = Histogram<UInt64>.latency()
    }

    private let state = Mutex(State())

    func assigned() { state.withLock { $0.isAssigned = true } }

    func waitForAssignment(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while !state.withLock({ $0.isAssigned }) {
            guard ContinuousClock.now < deadline else {
                throw BenchError.kafka("the baseline consumer got no partition assignment within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func sent(hop index: Int, at instant: ContinuousClock.Instant) {
        state.withLock { $0.hopSent[index] = instant }
    }

    func consumed(key: String, at instant: ContinuousClock.Instant) {
        state.withLock { state in
            if key == "t" {
                state.throughputConsumed += 1
                state.lastThroughputConsumed = instant
            } else if key.hasPrefix("h"), let index = Int(key.dropFirst()), let sent = state.hopSent[index] {
                state.hopsConsumed += 1
                state.hops.record(instant - sent)
            }
        }
    }

    func waitForThroughput(_ count: Int, timeout: Duration) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (consumed, last) = state.withLock { ($0.throughputConsumed, $0.lastThroughputConsumed) }
            if consumed >= count, let last { return last }
            guard ContinuousClock.now < deadline else {
                throw BenchError.kafka("baseline: consumed \(consumed) of \(count) messages within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func waitForHops(_ count: Int, timeout: Duration) async throws -> Histogram<UInt64> {
        let deadline = ContinuousClock.now + timeout
        while true {
            let consumed = state.withLock { $0.hopsConsumed }
            if consumed >= count { return state.withLock { $0.hops } }
            guard ContinuousClock.now < deadline else {
                throw BenchError.kafka("baseline: consumed \(consumed) of \(count) hop messages within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
