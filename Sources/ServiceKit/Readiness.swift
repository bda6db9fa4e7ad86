import Kafka
import Logging
import Metrics
import ServiceLifecycle
import Storage
import Synchronization

/// What `/ready` reports: ready only when every check passed its last run and no loop is
/// blocked by a store error.
///
/// Thread-safety: every method may be called from any thread or task.
public final class Readiness: Sendable {
    /// The things a service needs before it can do its work.
    public enum Check: String, Sendable, CaseIterable {
        case broker
        case database
        case topics
        /// The consumer is a member of its group: it got an assignment (possibly empty) and
        /// has not lost its membership since.
        case consumer
    }

    /// A loop that writes to the store and retries what fails.
    public enum StoreWriter: String, Sendable, CaseIterable {
        /// ``EventConsumerService``: while it is blocked, its partition does not move.
        case consumer
        /// ``OutboxRelay``: while it is blocked, published rows are not marked sent (they are
        /// published again) or nothing is read to publish.
        case relay

        var loop: String {
            switch self {
            case .consumer: "consume loop"
            case .relay: "outbox relay"
            }
        }
    }

    private struct State {
        /// Each check's failure, nil when it passed.
        var checks: [Check: String?]
        /// Each blocked writer's reason.
        var blocked: [StoreWriter: String] = [:]
    }

    private let state: Mutex<State>
    /// `store_blocked{writer}`: 1 while that writer is blocked.
    private let blockedGauges: [StoreWriter: Gauge]

    /// Tracks `checks`, each failing ("not checked yet") until its first ``set(_:ready:reason:)``.
    /// No writer is blocked at first; `store_blocked` is exported at 0 for each (to `metrics`).
    public init(checks: [Check] = Check.allCases, metrics: any MetricsFactory = MetricsSystem.factory) {
        state = Mutex(
            State(checks: Dictionary(uniqueKeysWithValues: checks.map { ($0, "\($0.rawValue): not checked yet") }))
        )
        blockedGauges = Dictionary(
            uniqueKeysWithValues: StoreWriter.allCases.map {
                ($0, Gauge(label: "store_blocked", dimensions: [("writer", $0.rawValue)], factory: metrics))
            }
        )
        for gauge in blockedGauges.values { gauge.record(0) }
    }

    /// Records a check's result; `reason` explains a failure.
    public func set(_ check: Check, ready: Bool, reason: String? = nil) {
        state.withLock { $0.checks[check] = ready ? .some(nil) : .some(reason ?? "\(check.rawValue) not ready") }
    }

    /// `writer` retries a store error that needs someone to act (``StoreFailure/isTransient`` is
    /// false: disk full, I/O error, read-only or corrupt database): not ready with
    /// `store: <failure>; retrying` (naming the relay when it is the relay), and
    /// `store_blocked{writer}` is 1, until ``storeRecovered(_:)``. Call it on every failed
    /// attempt; it only records (the caller logs).
    public func storeBlocked(_ writer: StoreWriter, by failure: StoreFailure) {
        let prefix = writer == .consumer ? "store" : "store (\(writer.loop))"
        state.withLock { $0.blocked[writer] = "\(prefix): \(failure); retrying" }
        blockedGauges[writer]?.record(1)
    }

    /// `writer` failed to write with `error`: when that is a store error that needs someone to
    /// act, ``storeBlocked(_:by:)`` records it and it is returned (for the caller's log); nil for
    /// anything else (busy, or not a database error), which changes nothing.
    @discardableResult
    public func storeFailed(_ writer: StoreWriter, _ error: any Error) -> StoreFailure? {
        guard let failure = StoreFailure(error), !failure.isTransient else { return nil }
        storeBlocked(writer, by: failure)
        return failure
    }

    /// `writer` wrote again: its reason is cleared and `store_blocked{writer}` is back to 0.
    /// Cheap when it was not blocked; call it after every successful write.
    /// - Returns: true when it was blocked until now (the caller logs the recovery).
    @discardableResult
    public func storeRecovered(_ writer: StoreWriter) -> Bool {
        let wasBlocked = state.withLock { $0.blocked.removeValue(forKey: writer) != nil }
        if wasBlocked { blockedGauges[writer]?.record(0) }
        return wasBlocked
    }

    /// Empty when ready, otherwise every failing check's and blocked writer's reason, sorted.
    public var failures: [String] {
        state.withLock { state in (state.checks.compactMap { $0.value } + state.blocked.values).sorted() }
    }
}

/// Probes the broker and the database every `interval` and records the results in ``Readiness``.
public struct ReadinessProbe: Service {
    let readiness: Readiness
    let producer: KafkaProducer
    let store: EventStore
    let interval: Duration
    let logger: Logger

    /// Probes through `producer` (a metadata request bounded by `interval`) and `store`.
    public init(
        readiness: Readiness,
        producer: KafkaProducer,
        store: EventStore,
        interval: Duration = .seconds(2),
        logger: Logger
    ) {
        self.readiness = readiness
        self.producer = producer
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    /// Probes every `interval` until graceful shutdown; logs each change of overall readiness once.
    public func run() async throws {
        var wasReady: Bool?
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let broker = await producer.brokerAnswers(timeout: interval)
            readiness.set(.broker, ready: broker, reason: "broker did not answer a metadata request")
            let database = await store.isOpen()
            readiness.set(.database, ready: database, reason: "database \(store.location) does not answer")
            let ready = readiness.failures.isEmpty
            if ready != wasReady {
                if ready {
                    logger.info("ready")
                } else if wasReady == true {
                    logger.warning("not ready: \(readiness.failures.joined(separator: "; "))")
                } else {
                    // Every start passes through here (the consumer has not joined yet): not a warning.
                    logger.info("waiting to be ready: \(readiness.failures.joined(separator: "; "))")
                }
                wasReady = ready
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
