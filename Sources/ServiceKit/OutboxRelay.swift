import Foundation
import Kafka
import Logging
import Metrics
import ServiceLifecycle

/// Publishes outbox rows to Kafka in insertion order and marks them sent.
///
/// - At-least-once: a row is marked only after its delivery report. A crash between the two
///   re-publishes the row on restart; consumers drop the repeat by event id.
/// - Order: rows are enqueued in id order in one batch, so one order's events stay in order.
/// - Failures (broker down, timeouts) are retried with capped backoff; rows are never dropped.
/// - Shutdown: on graceful shutdown it publishes what is pending for at most `drainTimeout`,
///   then flushes and shuts the producer down.
public final class OutboxRelay: Service, Sendable {
    private let store: EventStore
    private let producer: KafkaProducer
    private let logger: Logger
    private let batchSize: Int
    private let idleInterval: Duration
    private let drainTimeout: Duration
    private let signal = WakeSignal()
    private let pendingGauge = Gauge(label: "outbox_pending")
    private let publishedCounter = Counter(label: "outbox_published_total")
    private let failedCounter = Counter(label: "outbox_failed_total")

    /// Why the relay stopped on its own.
    public enum RelayError: Error, CustomStringConvertible {
        /// The producer hit a fatal error; only a new process (a new producer) can go on.
        case producerFailed(KafkaError)

        public var description: String {
            switch self {
            case .producerFailed(let error): "outbox relay stopped: \(error); restart the service"
            }
        }
    }

    public init(
        store: EventStore, producer: KafkaProducer, logger: Logger,
        batchSize: Int = 500, idleInterval: Duration = .seconds(1), drainTimeout: Duration = .seconds(5)
    ) {
        self.store = store
        self.producer = producer
        self.logger = logger
        self.batchSize = batchSize
        self.idleInterval = idleInterval
        self.drainTimeout = drainTimeout
    }

    /// Asks the relay to look at the outbox now (after a commit that added rows).
    public func wake() {
        signal.signal()
    }

    public func run() async throws {
        let deadline = Deadline()
        let fatal = await withGracefulShutdownHandler {
            await relayUntilStopped()
        } onGracefulShutdown: {
            self.signal.finish()
            // A send in flight waits for its delivery report (up to message.timeout.ms while
            // the broker is down); past the drain budget, purging fails it so shutdown is bounded.
            let producer = self.producer
            let budget = self.drainTimeout
            deadline.task = Task {
                try? await Task.sleep(for: budget * 2)
                await producer.shutdown(timeout: .zero)
            }
        }
        if let fatal {
            logger.critical("\(RelayError.producerFailed(fatal)); nothing is lost, the outbox keeps every unsent row")
            await producer.shutdown(timeout: .zero)
            throw RelayError.producerFailed(fatal)
        }
        await drain()
        await producer.shutdown(timeout: drainTimeout)
        deadline.task?.cancel()
    }

    /// Publishes until shutdown; returns the producer's fatal error if one ends it early.
    private func relayUntilStopped() async -> KafkaError? {
        var backoff = Backoff()
        while !signal.isFinished, !Task.isCancelled {
            switch await publishBatch() {
            case .fatal(let error):
                return error
            case .published:
                backoff.reset()
            case .idle:
                backoff.reset()
                await signal.wait(timeout: idleInterval)
            case .failed:
                await signal.wait(timeout: backoff.next())
            }
        }
        return nil
    }

    private func drain() async {
        let deadline = ContinuousClock.now + drainTimeout
        while ContinuousClock.now < deadline {
            guard case .published = await publishBatch() else { return }
        }
    }

    enum BatchResult: Equatable { case published, idle, failed, fatal(KafkaError) }

    /// Publishes up to `batchSize` rows and marks the delivered prefix sent. Rows after the
    /// first failure stay unsent even when they were delivered, so the retry re-sends them after
    /// the failed one and one order's events keep their order (the repeat is deduplicated).
    func publishBatch() async -> BatchResult {
        let records: [OutboxRecord]
        do {
            records = try await store.unsent(limit: batchSize)
        } catch {
            logger.warning("outbox read failed, retrying: \(error)")
            return .failed
        }
        guard !records.isEmpty else {
            pendingGauge.record(0)
            return .idle
        }
        let results = await producer.send(records.map(\.message))
        var delivered: [Int64] = []
        var failure: (record: OutboxRecord, error: KafkaError)?
        for (record, result) in zip(records, results) {
            switch result {
            case .success: if failure == nil { delivered.append(record.id) }
            case .failure(let error): failure = failure ?? (record, error)
            }
        }
        if failure != nil, let fatal = producer.fatalError {
            return .fatal(fatal)
        }
        do {
            try await store.markSent(delivered)
        } catch {
            logger.warning("outbox mark-sent failed; \(delivered.count) rows will be published again: \(error)")
            return .failed
        }
        publishedCounter.increment(by: delivered.count)
        if let pending = try? await store.pendingCount() { pendingGauge.record(pending) }
        if let (record, error) = failure {
            guard error.isTransient else {
                // Kafka will never take this row (too large, not authorized…): set it aside so
                // the rows behind it move on. It stays in the outbox with its error.
                try? await store.markFailed(record.id, error: error.description)
                failedCounter.increment()
                logger.error(
                    "outbox row \(record.id) to \(record.message.topic) can never be published and was set aside: \(error)",
                    metadata: ["key": .string(record.message.key.map { String(decoding: $0, as: UTF8.self) } ?? "")]
                )
                return .published
            }
            logger.warning("outbox publish failed, retrying with backoff: \(error)")
            return .failed
        }
        return .published
    }
}

/// The task that bounds the relay's shutdown, set from the graceful-shutdown handler.
private final class Deadline: @unchecked Sendable {
    // Written once by the graceful-shutdown handler and read after `withGracefulShutdownHandler`
    // returned, which happens after that handler ran: the accesses are ordered.
    var task: Task<Void, Never>?
}
