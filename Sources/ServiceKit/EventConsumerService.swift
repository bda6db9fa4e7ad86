import Foundation
import GRDB
import Kafka
import Logging
import Metrics
import OrderEvents
import ServiceLifecycle

/// The consume loop: Kafka message → decode → one store transaction (inbox, change, outbox)
/// → store the offset.
///
/// - Poison messages (undecodable, unknown type or version, rejected by the handler) are
///   recorded once and copied to `<topic>.dlq` through the outbox, with the original bytes and
///   headers plus `dlq-source-topic`/`-partition`/`-offset` and `dlq-error`; the partition moves on.
/// - Transient failures (database busy, anything else the handler throws) are retried with
///   capped backoff and never dead-lettered. Nothing is acknowledged before it is committed.
/// - Graceful shutdown: stops taking messages, finishes the one in flight, commits offsets and
///   leaves the group.
public final class EventConsumerService: Service, Sendable {
    private let configuration: ServiceConfiguration
    private let store: EventStore
    private let handler: any EventHandler
    private let relay: OutboxRelay
    private let logger: Logger
    private let readiness: Readiness
    private let metrics: ConsumerMetrics

    public init(
        configuration: ServiceConfiguration, store: EventStore, handler: any EventHandler,
        relay: OutboxRelay, readiness: Readiness, logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.handler = handler
        self.relay = relay
        self.readiness = readiness
        self.logger = logger
        self.metrics = ConsumerMetrics()
        metrics.registerZero(topics: configuration.subscriptions)
    }

    public func run() async throws {
        guard await provisionTopics() else { return }
        let readiness = self.readiness
        let consumer = try KafkaConsumer(
            configuration: configuration.kafka, groupId: configuration.groupId,
            topics: configuration.subscriptions, logger: logger,
            onAssignment: { _ in readiness.set(.consumer, ready: true) }
        )
        logger.info("consuming \(configuration.subscriptions.joined(separator: ", ")) as group \(configuration.groupId)")
        await withGracefulShutdownHandler {
            for await message in consumer.messages {
                guard await process(message) else { break }
                consumer.storeOffset(of: message)
            }
        } onGracefulShutdown: {
            consumer.stopDelivering()
        }
        if await consumer.shutdown() {
            logger.info("consumer stopped; offsets committed, group left")
        }
    }

    /// Creates missing topics, retrying while the cluster is unreachable.
    /// - Returns: false when shutdown came first.
    private func provisionTopics() async -> Bool {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await KafkaAdmin.ensureTopics(
                    configuration.topicSpecifications, configuration: configuration.kafka,
                    timeout: .seconds(5), logger: logger
                )
                readiness.set(.topics, ready: true)
                return true
            } catch {
                readiness.set(.topics, ready: false, reason: "topics not provisioned: \(error)")
                logger.warning("cannot provision topics yet, retrying: \(error)")
                try? await Task.sleep(for: backoff.next())
            }
        }
        return false
    }

    /// Processes one message until it is committed or dead-lettered.
    /// - Returns: false when shutdown interrupted the retries (the message is not acknowledged
    ///   and will be delivered again).
    func process(_ message: KafkaMessage) async -> Bool {
        let started = ContinuousClock.now
        let envelope: EventEnvelope
        do {
            envelope = try EventCodec.decode(message.value)
        } catch {
            return await deadLetter(message, error: error.description, started: started)
        }
        let trace = message.header(EventHeader.traceparent).flatMap(TraceContext.init(traceparent:))
        var backoff = Backoff()
        while true {
            do {
                let handler = self.handler
                let box = ReactionBox()
                let (outcome, _) = try await store.handle(envelope, topic: message.topic, trace: trace) { db in
                    let reaction = try handler.handle(envelope, in: db)
                    box.reaction = reaction
                    return reaction.events
                }
                finish(message, envelope: envelope, outcome: outcome, reaction: box.reaction, started: started)
                return true
            } catch let rejected as EventRejected {
                return await deadLetter(message, error: "rejected \(envelope.type.rawValue): \(rejected.reason)", started: started)
            } catch {
                guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return false }
                let delay = backoff.next()
                logger.warning(
                    "transient failure handling \(envelope.type.rawValue), retrying in \(delay)",
                    metadata: ["orderId": .string(envelope.orderId), "error": .string(String(describing: error)), "attempt": .stringConvertible(backoff.attempt)]
                )
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
    }

    private func finish(_ message: KafkaMessage, envelope: EventEnvelope, outcome: EventStore.Outcome, reaction: Reaction?, started: ContinuousClock.Instant) {
        metrics.record(topic: message.topic, outcome: outcome.rawValue, duration: ContinuousClock.now - started)
        var metadata: Logger.Metadata = [
            "orderId": .string(envelope.orderId), "eventId": .string(envelope.eventId.uuidString),
            "correlationId": .string(envelope.correlationId),
        ]
        switch outcome {
        case .duplicate:
            metrics.duplicate(topic: message.topic)
            logger.info("skipped duplicate \(envelope.type.rawValue) for order \(envelope.orderId)", metadata: metadata)
        case .processed:
            guard let reaction else { return }
            reaction.onCommit?()
            if !reaction.events.isEmpty {
                relay.wake()
                metadata["published"] = .string(reaction.events.map { configuration.topics.topic(for: $0.type) }.joined(separator: ","))
            }
            logger.log(level: reaction.level, "\(reaction.summary)", metadata: metadata)
        }
    }

    private func deadLetter(_ message: KafkaMessage, error: String, started: ContinuousClock.Instant) async -> Bool {
        var backoff = Backoff()
        while true {
            do {
                let first = try await store.deadLetter(message, error: error, service: configuration.serviceName)
                if first {
                    metrics.deadLettered(topic: message.topic)
                    relay.wake()
                }
                metrics.record(topic: message.topic, outcome: "dead_lettered", duration: ContinuousClock.now - started)
                logger.error(
                    "poison message sent to \(Topics.deadLetter(of: message.topic)): \(error)",
                    metadata: ["source": .string("\(message.topicPartition)@\(message.offset)")]
                )
                return true
            } catch {
                guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return false }
                logger.warning("cannot record poison message yet, retrying: \(error)")
                let delay = backoff.next()
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
    }
}

/// Carries the handler's reaction out of the write closure.
///
/// `@unchecked Sendable`: written once inside the transaction closure and read only after the
/// awaited write returned, so the accesses are ordered by that await.
private final class ReactionBox: @unchecked Sendable {
    var reaction: Reaction?
}

/// The consume loop's metrics.
struct ConsumerMetrics: Sendable {
    /// Exports every counter at 0 for each consumed topic, so dashboards and alerts see a
    /// series (rate 0) before the first poison message or duplicate, rather than no data.
    func registerZero(topics: [String]) {
        for topic in topics {
            for outcome in ["processed", "duplicate", "dead_lettered"] {
                Counter(label: "events_processed_total", dimensions: [("topic", topic), ("outcome", outcome)]).increment(by: 0)
            }
            Counter(label: "duplicates_skipped_total", dimensions: [("topic", topic)]).increment(by: 0)
            Counter(label: "dlq_messages_total", dimensions: [("topic", topic)]).increment(by: 0)
        }
    }

    func record(topic: String, outcome: String, duration: Duration) {
        Counter(label: "events_processed_total", dimensions: [("topic", topic), ("outcome", outcome)]).increment()
        Metrics.Timer(label: "event_processing_duration_seconds", dimensions: [("topic", topic)]).record(duration: duration)
    }

    func duplicate(topic: String) {
        Counter(label: "duplicates_skipped_total", dimensions: [("topic", topic)]).increment()
    }

    func deadLettered(topic: String) {
        Counter(label: "dlq_messages_total", dimensions: [("topic", topic)]).increment()
    }
}
