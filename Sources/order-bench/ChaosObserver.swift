import Foundation
import Kafka
import Logging
import OrderEvents
import Synchronization

/// Reads every topic of the platform (dead-letter topics included) from the start, for one
/// chaos row: the effects of this run's orders, their notifications (into the ledger), the
/// poison messages that were dead-lettered, and a copy of every event for the duplicate storm.
///
/// Effects are counted by distinct eventId: a service that applied an event twice writes a
/// second event with a new eventId (a duplicate effect), while a relay that re-publishes an
/// unmarked row writes the same eventId again (republished, absorbed by the inbox downstream).
final class ChaosObserver: Sendable {
    /// The header that marks the duplicate storm's copies, so they are not taken for republished rows.
    static let replayHeader = "chaos-replay"
    /// The topics whose events are effects that must happen at most once per order.
    static let effectTopics = [
        Topics.defaults.paymentsCompleted, Topics.defaults.paymentsRefunded, Topics.defaults.notificationsSent,
    ]

    /// What the topics said once the run was over.
    struct Tally: Sendable {
        /// Distinct eventIds beyond one per order, per effect topic.
        var duplicated: [String: Int] = [:]
        /// Orders with at least one event, per effect topic.
        var ordersWith: [String: Int] = [:]
        /// Deliveries of an eventId already seen on the same topic, summed over the topics.
        var republished = 0
        /// Storm copies seen.
        var replayed = 0
        /// Events of this run's orders found on a dead-letter topic: a real event refused.
        var deadLetteredEvents = 0
        /// Poison keys found on `<topic>.dlq` of the topic they were produced to.
        var deadLettered: Set<String> = []
        /// Poison keys found anywhere else than their topic and its dead-letter topic.
        var leaked: Set<String> = []
    }

    private struct State {
        var events: [String: [String: Set<UUID>]] = [:]
        var seen: Set<String> = []
        var tally = Tally()
        var replayable: [OutgoingMessage] = []
        var notifiedAt: [Int: ContinuousClock.Instant] = [:]
        var messages = 0
    }

    private let consumer: KafkaConsumer
    private let orderPrefix: String
    private let poisonPrefix: String
    private let ledger: OrderLedger
    private let logger: Logger
    private let assigned: AssignmentSignal
    private let state = Mutex(State())

    init(
        brokers: String,
        settings: BenchSettings,
        poisonPrefix: String,
        ledger: OrderLedger,
        logger: Logger
    ) throws(KafkaError) {
        self.orderPrefix = settings.orderIdPrefix
        self.poisonPrefix = poisonPrefix
        self.ledger = ledger
        self.logger = logger
        let assigned = AssignmentSignal()
        self.assigned = assigned
        self.consumer = try assigned.consumer(
            of: Topics.defaults.allWithDeadLetters,
            brokers: brokers,
            properties: EmbeddedKafkaCluster.lowLatencyProperties,
            clientId: "order-bench-chaos-\(settings.runId)",
            group: settings.consumerGroup,
            logger: logger
        )
    }

    /// Runs the consumer while `body` runs, then leaves the group.
    func running<Result>(_ body: () async throws -> Result) async throws -> Result {
        try await withRunningClients(consumer, body: body)
    }

    /// Returns once the group handed this consumer its partitions.
    func waitForAssignment(timeout: Duration) async throws(BenchError) {
        try await assigned.wait(timeout: timeout, consumerOf: "every topic (the chaos observer)")
    }

    /// Records every message until ``stop()``.
    func observe() async {
        for await message in consumer.messages {
            let seenAt = ContinuousClock.now
            consumer.storeOffset(of: message)
            guard let key = message.keyString else { continue }
            if key.hasPrefix(poisonPrefix) {
                record(poison: key, on: message.topic)
            } else if key.hasPrefix(orderPrefix) {
                record(message, at: seenAt)
            }
        }
    }

    func stop() async {
        _ = await consumer.shutdown()
    }

    /// Every event of this run's orders seen so far, as it was produced, for the storm.
    var replayable: [OutgoingMessage] { state.withLock { $0.replayable } }

    /// Messages of this run seen so far (all topics): stops changing once the platform is idle.
    var messageCount: Int { state.withLock { $0.messages } }

    var tally: Tally { state.withLock { $0.tally } }

    /// The first notification of an order numbered `from` or above that crossed every service
    /// (``ChaosRun/crossesEveryService(_:)``): a declined order skips inventory, so it could be
    /// notified while inventory-service is still down.
    func firstNotification(ofOrdersFrom first: Int) -> ContinuousClock.Instant? {
        state.withLock { state in
            state.notifiedAt.filter { $0.key >= first && ChaosRun.crossesEveryService($0.key) }.values.min()
        }
    }

    private func record(poison key: String, on topic: String) {
        state.withLock { state in
            state.messages += 1
            if topic == Topics.deadLetter(of: Topics.defaults.ordersCreated) {
                state.tally.deadLettered.insert(key)
            } else if topic != Topics.defaults.ordersCreated {
                state.tally.leaked.insert(key)
            }
        }
    }

    private func record(_ message: KafkaMessage, at seenAt: ContinuousClock.Instant) {
        let isReplay = message.headers.contains { $0.name == Self.replayHeader }
        let isDeadLetter = message.topic.hasSuffix(".dlq")
        let envelope: EventEnvelope
        do {
            envelope = try EventCodec.decode(message.value)
        } catch {
            logger.warning("undecodable event on \(message.topic)[\(message.partition)]@\(message.offset): \(error)")
            return
        }
        let counted = state.withLock { state -> Bool in
            state.messages += 1
            if isReplay {
                state.tally.replayed += 1
                return false
            }
            if isDeadLetter {
                state.tally.deadLetteredEvents += 1
                return false
            }
            state.replayable.append(
                OutgoingMessage(topic: message.topic, key: message.key, value: message.value, headers: message.headers)
            )
            guard state.seen.insert("\(message.topic)/\(envelope.eventId)").inserted else {
                state.tally.republished += 1
                return true
            }
            if Self.effectTopics.contains(message.topic) {
                let inserted = state.events[message.topic, default: [:]][envelope.orderId, default: []]
                    .insert(envelope.eventId).inserted
                if inserted, state.events[message.topic]![envelope.orderId]!.count > 1 {
                    state.tally.duplicated[message.topic, default: 0] += 1
                }
                state.tally.ordersWith[message.topic] = state.events[message.topic]!.count
            }
            return true
        }
        guard counted, case .notificationSent(let notification) = envelope.payload,
            let number = Int(envelope.orderId.dropFirst(orderPrefix.count))
        else { return }
        state.withLock { state in
            if state.notifiedAt[number] == nil { state.notifiedAt[number] = seenAt }
        }
        ledger.notified(number, eventId: envelope.eventId, outcome: notification.outcome, at: seenAt)
    }
}
