import Kafka
import Logging
import OrderEvents
import Synchronization

/// Watches `notifications.sent` — the last event of every order's flow — and records each of this
/// run's orders in the ledger as it is seen.
///
/// It uses its own consumer group (`order-bench-<runId>`) from the earliest offset: waiting for
/// the assignment and then starting at "latest" could skip notifications written in between,
/// whereas reading from the start and keeping only this run's prefix cannot miss any.
final class NotificationObserver: Sendable {
    private let consumer: KafkaConsumer
    private let prefix: String
    private let ledger: OrderLedger
    private let logger: Logger
    private let assigned: AssignmentSignal

    /// The consumer; it subscribes in ``running(_:)``, inside which call
    /// ``waitForAssignment(timeout:)`` before sending orders and ``observe()`` in a task of its own.
    init(
        brokers: String,
        properties: [KafkaProperty],
        settings: BenchSettings,
        ledger: OrderLedger,
        logger: Logger
    ) throws(KafkaError) {
        let assigned = AssignmentSignal()
        self.assigned = assigned
        self.prefix = settings.orderIdPrefix
        self.ledger = ledger
        self.logger = logger
        self.consumer = try assigned.consumer(
            of: [Topics.defaults.notificationsSent],
            brokers: brokers,
            properties: properties,
            clientId: "order-bench-\(settings.runId)",
            group: settings.consumerGroup,
            logger: logger
        )
    }

    /// Runs the consumer while `body` runs, then leaves the group.
    func running<Result>(_ body: () async throws -> Result) async throws -> Result {
        try await withRunningClients(consumer, body: body)
    }

    /// Returns once the group handed this consumer its partitions.
    /// - Throws: ``BenchError/kafka(_:)`` when that takes longer than `timeout`.
    func waitForAssignment(timeout: Duration) async throws(BenchError) {
        try await assigned.wait(timeout: timeout, consumerOf: Topics.defaults.notificationsSent)
    }

    /// Records notifications until ``stop()``.
    func observe() async {
        for await message in consumer.messages {
            let seenAt = ContinuousClock.now
            // Acknowledged at once: the bench keeps nothing, and a revocation must not wait for it.
            consumer.storeOffset(of: message)
            guard let key = message.keyString, key.hasPrefix(prefix) else { continue }
            do {
                let envelope = try EventCodec.decode(message.value)
                guard case .notificationSent(let notification) = envelope.payload,
                    let number = Int(envelope.orderId.dropFirst(prefix.count))
                else { continue }
                ledger.notified(number, eventId: envelope.eventId, outcome: notification.outcome, at: seenAt)
            } catch {
                logger.warning(
                    "undecodable event on \(message.topic)[\(message.partition)]@\(message.offset): \(error)"
                )
            }
        }
    }

    /// Ends ``observe()`` and leaves the group.
    func stop() async {
        await consumer.shutdown()
    }
}

/// A one-way flag set from librdkafka's rebalance callback (a plain thread).
final class AssignmentSignal: Sendable {
    private let flag = Mutex(false)
    func signal() { flag.withLock { $0 = true } }
    var isSignalled: Bool { flag.withLock { $0 } }

    /// A consumer of `topics` in its own `group` (from the earliest offset, the platform's
    /// default) that signals this on each assignment; it subscribes once run.
    func consumer(
        of topics: [String],
        brokers: String,
        properties: [KafkaProperty],
        clientId: String,
        group: String,
        logger: Logger
    ) throws(KafkaError) -> KafkaConsumer {
        try KafkaConsumer(
            configuration: KafkaClientConfiguration(
                bootstrapServers: brokers,
                clientId: clientId,
                statisticsInterval: nil,
                properties: properties
            ),
            groupId: group,
            topics: topics,
            bufferCapacity: 4096,
            logger: logger,
            onAssignment: { [self] _ in signal() }
        )
    }

    /// Returns once signalled.
    /// - Throws: ``BenchError/kafka(_:)`` naming `what` when that takes longer than `timeout`.
    func wait(timeout: Duration, consumerOf what: String) async throws(BenchError) {
        let deadline = ContinuousClock.now + timeout
        while !isSignalled {
            guard ContinuousClock.now < deadline, !Task.isCancelled else {
                throw .kafka("the consumer of \(what) got no partition assignment within \(timeout)")
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
