import Foundation
import Kafka
import Logging
import Metrics
import OrderEvents
import ServiceLifecycle

/// The consume loop: a batch of Kafka messages → decode → one store transaction (for each
/// event: inbox, change, outbox) → store the offsets of the whole batch.
///
/// - Batches: everything the consumer has buffered (up to ``maximumBatch``, on PostgreSQL
///   ``maximumPostgreSQLBatch``) is handled in one
///   transaction, so a burst costs one commit (one fsync) instead of one per message. Each
///   event is still deduplicated by the inbox and applied on its own (in a savepoint): a repeat
///   in the middle of a batch changes nothing, a rejected event is dead-lettered without
///   failing the rest, and offsets are stored only after the commit.
/// - Poison messages (undecodable, unknown type or version, rejected by the handler) are
///   recorded once and copied to `<topic>.dlq` through the outbox, with the original bytes and
///   headers plus `dlq-source-topic`/`-partition`/`-offset` and `dlq-error`; the partition moves on.
/// - Transient failures (database busy, anything else the handler throws) are retried with
///   capped backoff and never dead-lettered. Nothing is acknowledged before it is committed.
/// - A store error that needs someone to act (disk full, I/O error, read-only or corrupt
///   database: ``StoreFailure``) is retried the same way, but never silently: the service is not
///   ready (`store: database or disk is full (SQLITE_FULL); retrying`) and
///   `store_blocked{writer="consumer"}` is 1 until a retry commits, which clears both.
/// - Readiness: `consumer` passes once the consumer has joined its group and fails again when
///   it loses its membership (session timed out, fenced, poll interval exceeded) until it rejoins.
/// - Graceful shutdown: stops taking messages, finishes the batch in flight, commits offsets and
///   leaves the group.
public final class EventConsumerService: Service, Sendable {
    private let configuration: ServiceConfiguration
    private let store: EventStore
    private let handler: any EventHandler
    private let relay: OutboxRelay
    private let logger: Logger
    private let readiness: Readiness
    private let metrics: ConsumerMetrics
    /// The most messages handled in one transaction.
    public static let maximumBatch = 500
    /// The most on PostgreSQL: each event's savepoint that writes is a subtransaction, and a
    /// transaction with more than 64 of them overflows the server's per-session cache, which
    /// makes every other session's snapshots slower (they must read pg_subtrans).
    public static let maximumPostgreSQLBatch = 60

    /// The most messages handled in one transaction on this store's backend.
    private var batchLimit: Int {
        store.database.dialect == .postgres ? Self.maximumPostgreSQLBatch : Self.maximumBatch
    }

    /// A consume loop for `configuration`'s group and subscriptions; nothing connects until
    /// ``run()``. `relay` is woken after each committed batch that wrote outbox rows.
    public init(
        configuration: ServiceConfiguration,
        store: EventStore,
        handler: any EventHandler,
        relay: OutboxRelay,
        readiness: Readiness,
        logger: Logger
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

    /// Consumes until graceful shutdown: each batch is handled in one transaction (each event in
    /// its own savepoint; poison and rejected events dead-lettered), and its offsets are stored
    /// only after that commit, so an event is applied at least once and, through the inbox,
    /// exactly once. Returns after the last batch is finished and the consumer is closed.
    public func run() async throws {
        guard await provisionTopics() else { return }
        let readiness = self.readiness
        let consumer = try KafkaConsumer(
            configuration: configuration.consumerKafka,
            groupId: configuration.groupId,
            topics: configuration.subscriptions,
            logger: logger,
            shutdownTimeout: ShutdownBudget.consumerClose,
            onAssignment: { _ in readiness.set(.consumer, ready: true) },
            onMembershipLost: { reason in readiness.set(.consumer, ready: false, reason: "consumer: \(reason)") }
        )
        logger.info(
            "consuming \(configuration.subscriptions.joined(separator: ", ")) as group \(configuration.groupId), instance \(configuration.groupInstanceId)"
        )
        // The consumer runs for the length of this loop, not until the graceful shutdown: it
        // must outlive the batch in flight, whose offsets are stored after its commit.
        try await withRunningClients(consumer) {
            await withGracefulShutdownHandler {
                for await batch in consumer.batches(maximum: batchLimit) {
                    guard await process(batch) else { break }
                    consumer.storeOffsets(of: batch)
                }
            } onGracefulShutdown: {
                consumer.stopDelivering()
            }
            if await consumer.shutdown() {
                logger.info("consumer stopped; offsets committed, group left")
            }
        }
    }

    /// Creates missing topics, retrying while the cluster is unreachable.
    /// - Returns: false when shutdown came first.
    private func provisionTopics() async -> Bool {
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
        let (topics, kafka, logger) = (configuration.topicSpecifications, configuration.kafka, logger)
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                // A shutdown must not wait out an attempt against a cluster that does not answer.
                try await cancelWhenGracefulShutdown {
                    try await KafkaAdmin.ensureTopics(
                        topics,
                        configuration: kafka,
                        timeout: .seconds(5),
                        logger: logger
                    )
                }
                readiness.set(.topics, ready: true)
                return true
            } catch {
                guard !Task.isShuttingDownGracefully, !Task.isCancelled else { break }
                readiness.set(.topics, ready: false, reason: "topics not provisioned: \(error)")
                logger.warning("cannot provision topics yet, retrying: \(error)")
                let pause = backoff.next()
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
        return false
    }

    /// Processes one message until it is committed or dead-lettered.
    /// - Returns: false when shutdown interrupted the retries (the message is not acknowledged
    ///   and will be delivered again).
    func process(_ message: KafkaMessage) async -> Bool {
        await process([message])
    }

    /// Processes a batch in one transaction until it is committed, retrying the whole batch
    /// with capped backoff after a failure (nothing of it is then committed). A store error
    /// that needs someone to act makes the service not ready while it lasts.
    /// - Returns: false when shutdown interrupted the retries (no message of the batch is
    ///   acknowledged; all are delivered again).
    func process(_ messages: [KafkaMessage]) async -> Bool {
        let started = ContinuousClock.now
        let items = messages.map(Self.decode)
        var backoff = Backoff()
        while true {
            do {
                finish(try await commit(items), started: started)
                if readiness.storeRecovered(.consumer) {
                    logger.notice("store writes again; the consume loop goes on")
                }
                return true
            } catch {
                guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return false }
                let delay = backoff.next()
                var metadata: Logger.Metadata = [
                    "orderIds": .string(items.compactMap(\.envelope?.orderId).prefix(5).joined(separator: ",")),
                    "error": .string(String(describing: error)), "attempt": .stringConvertible(backoff.attempt),
                ]
                if let failure = readiness.storeFailed(.consumer, error) {
                    metadata["kind"] = .string(failure.kind.rawValue)
                    logger.error(
                        "store error handling \(messages.count) message(s): \(failure); the partition waits, retrying in \(delay)",
                        metadata: metadata
                    )
                } else {
                    logger.warning(
                        "transient failure handling \(messages.count) message(s), retrying in \(delay)",
                        metadata: metadata
                    )
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
    }

    /// A consumed message, decoded or not.
    struct Item: Sendable {
        var message: KafkaMessage
        var decoded: Result<EventEnvelope, EventDecodingError>
        var trace: TraceContext?

        var envelope: EventEnvelope? { try? decoded.get() }
    }

    /// What became of one message of a committed batch.
    enum ItemOutcome: Sendable {
        case processed(Reaction)
        case duplicate
        /// Dead-lettered; `first` is false when this position was dead-lettered before.
        case deadLettered(error: String, first: Bool)
    }

    private static func decode(_ message: KafkaMessage) -> Item {
        let decoded = Result { () throws(EventDecodingError) in try EventCodec.decode(message.value) }
        let trace = message.header(EventHeader.traceparent).flatMap(TraceContext.init(traceparent:))
        return Item(message: message, decoded: decoded, trace: trace)
    }

    /// One transaction for the whole batch; each event in its own savepoint, so a rejected one
    /// rolls back alone and is dead-lettered while the others commit. Any other error rolls the
    /// whole batch back (it is transient and retried).
    private func commit(_ items: [Item]) async throws -> [(Item, ItemOutcome)] {
        let store = self.store
        let handler = self.handler
        let service = configuration.serviceName
        return try await store.database.write { transaction in
            var outcomes: [(Item, ItemOutcome)] = []
            outcomes.reserveCapacity(items.count)
            for item in items {
                let envelope: EventEnvelope
                switch item.decoded {
                case .failure(let failure):
                    let first = try store.deadLetter(
                        item.message,
                        error: failure.description,
                        service: service,
                        in: transaction
                    )
                    outcomes.append((item, .deadLettered(error: failure.description, first: first)))
                    continue
                case .success(let decoded):
                    envelope = decoded
                }
                do {
                    let reaction = try store.apply(
                        envelope,
                        topic: item.message.topic,
                        trace: item.trace,
                        handler: handler,
                        in: transaction
                    )
                    outcomes.append((item, reaction.map(ItemOutcome.processed) ?? .duplicate))
                } catch let rejected as EventRejected {
                    let error = "rejected \(envelope.type.rawValue): \(rejected.reason)"
                    let first = try store.deadLetter(item.message, error: error, service: service, in: transaction)
                    outcomes.append((item, .deadLettered(error: error, first: first)))
                }
            }
            return outcomes
        }
    }

    /// After the commit: metrics, one log line per event, and one wake-up of the relay.
    private func finish(_ outcomes: [(Item, ItemOutcome)], started: ContinuousClock.Instant) {
        let duration = ContinuousClock.now - started
        var published = false
        for (item, outcome) in outcomes {
            let topic = item.message.topic
            switch outcome {
            case .deadLettered(let error, let first):
                if first {
                    metrics.deadLettered(topic: topic)
                    published = true
                }
                metrics.record(topic: topic, outcome: "dead_lettered", duration: duration)
                logger.error(
                    "poison message sent to \(Topics.deadLetter(of: topic)): \(error)",
                    metadata: ["source": .string("\(item.message.topicPartition)@\(item.message.offset)")]
                )
            case .duplicate:
                guard let envelope = item.envelope else { continue }
                metrics.record(topic: topic, outcome: EventStore.Outcome.duplicate.rawValue, duration: duration)
                metrics.duplicate(topic: topic)
                logger.info(
                    "skipped duplicate \(envelope.type.rawValue) for order \(envelope.orderId)",
                    metadata: Self.metadata(envelope)
                )
            case .processed(let reaction):
                guard let envelope = item.envelope else { continue }
                metrics.record(topic: topic, outcome: EventStore.Outcome.processed.rawValue, duration: duration)
                reaction.onCommit?()
                var metadata = Self.metadata(envelope)
                if !reaction.events.isEmpty {
                    published = true
                    metadata["published"] = .string(
                        reaction.events.map { configuration.topics.topic(for: $0.type) }.joined(separator: ",")
                    )
                }
                logger.log(level: reaction.level, "\(reaction.summary)", metadata: metadata)
            }
        }
        if published { relay.wake() }
    }

    private static func metadata(_ envelope: EventEnvelope) -> Logger.Metadata {
        [
            "orderId": .string(envelope.orderId), "eventId": .string(envelope.eventId.uuidString),
            "correlationId": .string(envelope.correlationId),
        ]
    }
}

/// The consume loop's metrics.
struct ConsumerMetrics: Sendable {
    /// Exports every counter at 0 for each consumed topic, so dashboards and alerts see a
    /// series (rate 0) before the first poison message or duplicate, rather than no data.
    func registerZero(topics: [String]) {
        for topic in topics {
            for outcome in ["processed", "duplicate", "dead_lettered"] {
                Counter(label: "events_processed_total", dimensions: [("topic", topic), ("outcome", outcome)])
                    .increment(by: 0)
            }
            Counter(label: "duplicates_skipped_total", dimensions: [("topic", topic)]).increment(by: 0)
            Counter(label: "dlq_messages_total", dimensions: [("topic", topic)]).increment(by: 0)
        }
    }

    func record(topic: String, outcome: String, duration: Duration) {
        Counter(label: "events_processed_total", dimensions: [("topic", topic), ("outcome", outcome)]).increment()
        Metrics.Timer(label: "event_processing_duration_seconds", dimensions: [("topic", topic)]).record(
            duration: duration
        )
    }

    func duplicate(topic: String) {
        Counter(label: "duplicates_skipped_total", dimensions: [("topic", topic)]).increment()
    }

    func deadLettered(topic: String) {
        Counter(label: "dlq_messages_total", dimensions: [("topic", topic)]).increment()
    }
}
