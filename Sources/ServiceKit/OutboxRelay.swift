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
        await withGracefulShutdownHandler {
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
        await drain()
        await producer.shutdown(timeout: drainTimeout)
        deadline.task?.cancel()
    }

    private func relayUntilStopped() async {
        var backoff = Backoff()
        while !signal.isFinished, !Task.isCancelled {
            switch await publishBatch() {
            case .published:
                backoff.reset()
            case .idle:
                backoff.reset()
                await signal.wait(timeout: idleInterval)
            case .failed:
                await signal.wait(timeout: backoff.next())
            }
        }
    }

    private func drain() async {
        let deadline = ContinuousClock.now + drainTimeout
        while ContinuousClock.now < deadline {
            guard case .published = await publishBatch() else { return }
        }
    }

    enum BatchResult { case published, idle, failed }

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
        var failure: KafkaError?
        for (record, result) in zip(records, results) {
            switch result {
            case .success: if failure == nil { delivered.append(record.id) }
            case .failure(let error): failure = failure ?? error
            }
        }
        do {
            try await store.markSent(delivered)
        } catch {
            logger.warning("outbox mark-sent failed; \(delivered.count) rows will be published again: \(error)")
            return .failed
        }
        publishedCounter.increment(by: delivered.count)
        if let pending = try? await store.pendingCount() { pendingGauge.record(pending) }
        if let failure {
            logger.warning("outbox publish failed, retrying with backoff: \(failure)")
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
