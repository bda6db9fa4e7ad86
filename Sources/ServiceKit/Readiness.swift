import Kafka
import Logging
import ServiceLifecycle
import Synchronization

/// What `/ready` reports: ready only when every check passed its last run.
public final class Readiness: Sendable {
    /// The things a service needs before it can do its work.
    public enum Check: String, Sendable, CaseIterable {
        case broker
        case database
        case topics
        /// The consumer joined its group (got an assignment, possibly empty).
        case consumer
    }

    private let state: Mutex<[Check: String?]>

    /// Tracks `checks`, each failing ("not checked yet") until its first ``set(_:ready:reason:)``.
    public init(checks: [Check] = Check.allCases) {
        state = Mutex(Dictionary(uniqueKeysWithValues: checks.map { ($0, "\($0.rawValue): not checked yet") }))
    }

    /// Records a check's result; `reason` explains a failure.
    public func set(_ check: Check, ready: Bool, reason: String? = nil) {
        state.withLock { $0[check] = ready ? .some(nil) : .some(reason ?? "\(check.rawValue) not ready") }
    }

    /// nil when ready, otherwise every failing check's reason.
    public var failures: [String] {
        state.withLock { checks in checks.compactMap { $0.value }.sorted() }
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
            readiness.set(.database, ready: database, reason: "database \(store.path) does not answer")
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
