import Foundation
import Kafka
import Logging
import Synchronization

/// Supervises every configured service: ordered start (waiting for `after` dependencies to be
/// ready), reverse-ordered stop, operator commands, reload, and the aggregate state that
/// readiness notification and `orderd status` report.
///
/// A crash-looping service never disturbs the others: each has its own actor, timers and
/// state machine, and the supervisor never exits because its children stopped.
public actor Supervisor {
    /// When this supervisor was created (orderd's uptime counts from here).
    public nonisolated let startedAt = ContinuousClock.now
    private let startedWall = Date()
    private var configuration: SupervisorConfiguration
    private var services: [String: SupervisedService] = [:]
    private var order: [String] = []
    private let brokers: String
    private let embeddedBroker: Bool
    private let logger: Logger
    private let changes = ChangeSignal()

    /// A new subscription to state changes: it yields once after any number of changes since its
    /// last element (coalesced, never lost), and ends when the subscribing task is cancelled.
    /// Each call is an independent subscriber; readiness notification and `STATUS=` follow one.
    public nonisolated func stateChanges() -> AsyncStream<Void> {
        changes.subscribe()
    }

    /// Supervises `configuration`'s services with `brokers` in their environment; starts nothing
    /// until ``startAll()``.
    public init(configuration: SupervisorConfiguration, brokers: String, embeddedBroker: Bool, logger: Logger) {
        self.configuration = configuration
        self.brokers = brokers
        self.embeddedBroker = embeddedBroker
        self.logger = logger
        for spec in configuration.services {
            services[spec.name] = Self.makeService(spec, configuration, brokers, embeddedBroker, logger, changes)
        }
        order = configuration.services.map(\.name)
    }

    private func add(_ spec: ServiceSpec) {
        services[spec.name] = Self.makeService(spec, configuration, brokers, embeddedBroker, logger, changes)
        order = configuration.services.map(\.name).filter { services[$0] != nil }
    }

    // Static, with everything passed in: the initializer cannot call an isolated method.
    private static func makeService(
        _ spec: ServiceSpec,
        _ configuration: SupervisorConfiguration,
        _ brokers: String,
        _ embeddedBroker: Bool,
        _ logger: Logger,
        _ changes: ChangeSignal
    ) -> SupervisedService {
        SupervisedService(
            spec: spec,
            environment: childEnvironment(
                spec,
                configuration: configuration,
                brokers: brokers,
                embeddedBroker: embeddedBroker
            ),
            logger: logger,
            changes: changes
        )
    }

    /// The child's environment, built explicitly: orderd's own minus what belongs to orderd's
    /// manager (NOTIFY_SOCKET, WATCHDOG_*, LISTEN_*), plus the platform's variables
    /// (`METRICS_HOST` only when orderd's environment has none: loopback), plus the service's
    /// configured environment last. With the embedded broker, the settings that suit
    /// only the mock cluster (``EmbeddedKafkaCluster/lowLatencyProperties``) come first, so
    /// orderd's environment and the configuration still override them.
    static func childEnvironment(
        _ spec: ServiceSpec,
        configuration: SupervisorConfiguration,
        brokers: String,
        embeddedBroker: Bool
    ) -> [String: String] {
        let privateToOrderd: Set<String> = [
            "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
        ]
        var environment = ProcessInfo.processInfo.environment.filter { !privateToOrderd.contains($0.key) }
        environment["ORDERD_PID"] = String(getpid())
        environment["SERVICE_NAME"] = spec.service
        environment["SERVICE_INSTANCE"] = spec.instance.map(String.init)
        environment["METRICS_PORT"] = String(spec.metricsPort)
        environment["DATA_DIR"] = (configuration.daemon.dataDirectory as NSString).appendingPathComponent(spec.service)
        environment["KAFKA_BROKERS"] = brokers
        if let url = configuration.database.url { environment["DATABASE_URL"] = url.connectionString }
        // orderd probes and scrapes the operations endpoints over loopback and serves one
        // aggregated /metrics: they need not be reachable from other hosts unless configured so.
        if environment["METRICS_HOST"] == nil { environment["METRICS_HOST"] = "127.0.0.1" }
        if embeddedBroker {
            for property in EmbeddedKafkaCluster.lowLatencyProperties {
                let variable = KafkaSettings.environmentVariable(forProperty: property.name)
                if environment[variable] == nil { environment[variable] = property.value }
            }
        }
        environment.merge(configuration.kafka.environment) { $1 }
        environment.merge(spec.environment) { $1 }
        return environment
    }

    /// Services an operator stopped, or all of them once shutdown began: a pending start for
    /// them is dropped.
    private var heldBack: Set<String> = []
    private var shuttingDown = false
    /// A ``reload(_:)`` is under way.
    private var reloading = false
    /// Services ``startAll()`` has yet to start, in start order.
    private var pendingStarts: [String] = []
    /// Why a service was not started (a service it starts after failed), for `orderd status`.
    private var notStarted: [String: String] = [:]

    /// Starts every service and returns once each has been started or given up on.
    ///
    /// A service with `after` dependencies starts once they are all ready, or alive but not ready
    /// past their startup budget (as when Kafka is down, so that the order API still starts and
    /// accepts orders into its outbox). The wait follows ``stateChanges()``: no polling. A
    /// dependency that ends `failed` ends the wait: the dependent stays stopped, its status note
    /// and an error log line say why and what to do. Services an operator stops meanwhile, and
    /// all of them once shutdown begins, are not started. Cancelling the calling task ends the
    /// wait and leaves the rest unstarted.
    public func startAll() async {
        pendingStarts = order
        notStarted = [:]
        _ = await changes.wait { await self.startPending() }
    }

    /// Starts each pending service whose dependencies are up and gives up on one whose dependency
    /// failed; true once nothing is pending.
    private func startPending() async -> Bool {
        var settled: Set<String> = []
        for name in pendingStarts {
            guard let service = services[name], !shuttingDown, !heldBack.contains(name) else {
                settled.insert(name)
                continue
            }
            var dependencies: [(name: String, state: ServiceState)] = []
            for dependency in service.spec.after {
                if let other = services[dependency] { dependencies.append((dependency, await other.state)) }
            }
            if let failed = dependencies.first(where: { $0.state == .failed }) {
                let reason =
                    "not started: \(failed.name), which it starts after, failed; "
                    + "start \(failed.name) again (orderd reset-failed \(failed.name)), then orderd start \(name)"
                notStarted[name] = reason
                logger.error("\(name) \(reason)")
                settled.insert(name)
            } else if dependencies.allSatisfy({ $0.state == .ready || $0.state == .unhealthy }) {
                // Checked again after the awaits above: an operator command or shutdown may
                // have come in between.
                if !shuttingDown, !heldBack.contains(name), pendingStarts.contains(name) { await service.send(.start) }
                settled.insert(name)
            }
        }
        pendingStarts.removeAll { settled.contains($0) }
        return pendingStarts.isEmpty
    }

    /// Stops every service in reverse start order, each within its stop timeout (SIGTERM to
    /// its process group, then SIGKILL). Whatever still runs when `budget` is spent is killed.
    public func stopAll(budget: Duration) async {
        shuttingDown = true
        // A pending ``startAll()`` sees the shutdown and gives up.
        changes.signal()
        let deadline = ContinuousClock.now + budget
        for name in order.reversed() {
            guard let service = services[name] else { continue }
            await service.send(.shutdown)
            let left = deadline - ContinuousClock.now
            if await !service.waitFor(
                [.stopped, .failed],
                timeout: min(left, service.spec.supervisionPolicy.stopTimeout + .seconds(1))
            ) {
                logger.warning("\(name) did not stop in time; killing its process group")
                await service.killNow()
                _ = await service.waitFor([.stopped, .failed], timeout: .seconds(2))
            }
        }
    }

    /// An operator command of the CLI and the control socket (its raw value is the CLI verb).
    public enum Command: String, Sendable, CaseIterable {
        /// Start a stopped, failed or backing-off service (clears a sticky stop).
        case start
        /// Stop the service; sticky: it is not restarted until started again.
        case stop
        /// Stop the process and start it again at once (not counted toward the start limit).
        case restart
        /// Clear `failed` and the start-limit history, and start again.
        case resetFailed = "reset-failed"
    }

    /// Why an operator command was refused; nothing changed.
    public enum CommandError: Error, Sendable, Equatable, CustomStringConvertible {
        /// No service of that name is configured; `known` lists those that are.
        case unknownService(String, known: [String])
        /// A reload (SIGHUP) is replacing services; a command now could act on one that is
        /// about to be replaced and leave its process unsupervised.
        case reloading
        /// What the CLI prints, listing the configured services.
        public var description: String {
            switch self {
            case .unknownService(let name, let known):
                "no service named \(name); configured: \(known.joined(separator: ", "))"
            case .reloading:
                "orderd is reloading its configuration; try again when the reload has finished (orderd status)"
            }
        }
    }

    /// Applies an operator command to service `name` and returns its state right after; the
    /// command replaces any pending start of ``startAll()`` for that service. Refused while a
    /// ``reload(_:)`` runs.
    public func perform(_ command: Command, service name: String) async throws(CommandError) -> ServiceStatus {
        guard !reloading else { throw .reloading }
        guard let service = services[name] else { throw .unknownService(name, known: order) }
        if command == .stop { heldBack.insert(name) } else { heldBack.remove(name) }
        pendingStarts.removeAll { $0 == name }
        notStarted[name] = nil
        switch command {
        case .start: await service.send(.start)
        case .stop: await service.send(.stop)
        case .restart: await service.send(.restart)
        case .resetFailed: await service.send(.resetFailed)
        }
        logger.info("operator: \(command.rawValue) \(name)")
        return await snapshot(service)
    }

    private func snapshot(_ service: SupervisedService) async -> ServiceStatus {
        var row = await service.snapshot()
        if row.state == .stopped, let reason = notStarted[row.name] { row.note = reason }
        return row
    }

    /// A consistent-enough picture for `orderd status`: each row is one service's state at
    /// the moment it was read, in start order.
    public func status() async -> DaemonStatus {
        var rows: [ServiceStatus] = []
        for name in order {
            if let service = services[name] { rows.append(await snapshot(service)) }
        }
        return DaemonStatus(
            pid: getpid(),
            uptimeSeconds: (ContinuousClock.now - startedAt).seconds,
            startedAt: startedWall.formatted(.iso8601),
            broker: brokers,
            embeddedBroker: embeddedBroker,
            config: configuration.source,
            services: rows
        )
    }

    /// Per-service counters for orderd's own metrics.
    func counters() async -> [(spec: ServiceSpec, restarts: [RestartReason: Int], probeFailures: [String: Int])] {
        var result: [(ServiceSpec, [RestartReason: Int], [String: Int])] = []
        for name in order {
            guard let service = services[name] else { continue }
            result.append((service.spec, await service.restartsByReason, await service.probeFailures))
        }
        return result
    }

    /// Applies a re-read configuration: services whose specification changed are restarted
    /// with it, removed ones are stopped, new ones started; the rest are not touched. Operator
    /// commands are refused (``CommandError/reloading``) until it returns.
    public func reload(_ new: SupervisorConfiguration) async {
        // The actor is re-entered at every await below: commands must not reach a service
        // that is being replaced.
        reloading = true
        defer { reloading = false }
        notStarted = [:]
        let old = configuration
        configuration = new
        let oldSpecs = Dictionary(uniqueKeysWithValues: old.services.map { ($0.name, $0) })
        let newSpecs = Dictionary(uniqueKeysWithValues: new.services.map { ($0.name, $0) })
        for (name, spec) in oldSpecs where newSpecs[name] == nil {
            logger.info("reload: \(name) removed from the configuration; stopping it")
            if let service = services[name] {
                await service.send(.stop)
                _ = await service.waitFor(
                    [.stopped, .failed],
                    timeout: spec.supervisionPolicy.stopTimeout + .seconds(1)
                )
            }
            services[name] = nil
        }
        for spec in new.services {
            let environmentChanged = old.kafka != new.kafka || old.daemon.dataDirectory != new.daemon.dataDirectory
            if let previous = oldSpecs[spec.name], previous == spec, !environmentChanged { continue }
            if let service = services[spec.name] {
                logger.info("reload: \(spec.name) changed; restarting it with the new configuration")
                await service.send(.stop)
                if await !service.waitFor(
                    [.stopped, .failed],
                    timeout: service.spec.supervisionPolicy.stopTimeout + .seconds(1)
                ) {
                    // Never leave the old process running unsupervised next to the new one.
                    await service.killNow()
                    _ = await service.waitFor([.stopped, .failed], timeout: .seconds(5))
                }
                if heldBack.contains(spec.name) {
                    add(spec)
                    continue
                }
            } else {
                logger.info("reload: \(spec.name) added")
            }
            add(spec)
            await services[spec.name]?.send(.start)
        }
        order = new.services.map(\.name)
        changes.signal()
    }

    /// True when every service is ready.
    public func allReady() async -> Bool {
        for name in order {
            if await services[name]?.state != .ready { return false }
        }
        return true
    }

    /// Waits, following ``stateChanges()``, until every service is ready; false when `timeout`
    /// passed first.
    public func waitUntilAllReady(timeout: Duration) async -> Bool {
        await changes.wait(timeout: timeout) { await self.allReady() }
    }
}

/// A multicast of "something changed": every subscriber gets its own stream, which buffers one
/// element (so changes coalesce but a change after subscribing is never lost).
///
/// `Sendable` through its `Mutex`: subscribing, signalling and a subscriber's end may happen on
/// any thread.
final class ChangeSignal: Sendable {
    private struct Subscribers {
        var next = 0
        var continuations: [Int: AsyncStream<Void>.Continuation] = [:]
    }

    private let subscribers = Mutex(Subscribers())

    func subscribe() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = subscribers.withLock { subscribers in
            defer { subscribers.next += 1 }
            subscribers.continuations[subscribers.next] = continuation
            return subscribers.next
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.continuations.removeValue(forKey: id) }
        }
        return stream
    }

    func signal() {
        for continuation in subscribers.withLock({ Array($0.continuations.values) }) { continuation.yield() }
    }

    /// Waits until `condition` holds, checking it now and after every change; false when
    /// `timeout` passed first or the calling task was cancelled.
    func wait(timeout: Duration? = nil, until condition: @escaping @Sendable () async -> Bool) async -> Bool {
        // Subscribed before the first check, so a change in between is buffered, not missed.
        let changes = subscribe()
        if await condition() { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in changes {
                    if await condition() { return true }
                }
                return false
            }
            if let timeout {
                // A deadline, not polling: it fires once.
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return false
                }
            }
            let satisfied = await group.next() ?? false
            group.cancelAll()
            return satisfied
        }
    }
}

/// What `orderd status --json` prints.
public struct DaemonStatus: Sendable, Hashable, Codable {
    /// orderd's pid.
    public var pid: Int32
    /// How long orderd has supervised.
    public var uptimeSeconds: Double
    /// When orderd started, ISO 8601.
    public var startedAt: String
    /// The Kafka bootstrap servers the services use.
    public var broker: String
    /// True when `broker` is orderd's in-memory development broker.
    public var embeddedBroker: Bool
    /// The configuration file orderd runs with.
    public var config: String
    /// One row per service, in start order.
    public var services: [ServiceStatus]

    /// How many services are ready.
    public var readyCount: Int { services.filter(\.ready).count }
    /// True when there is at least one service and every one is ready (`orderd status` exits 0).
    public var allReady: Bool { !services.isEmpty && services.allSatisfy(\.ready) }

    /// True when there is at least one service and none is still starting (``allReady`` implies
    /// it): each is ready, alive
    /// but not ready after its startup budget (`unhealthy`: for example waiting for a broker that
    /// is down), or `failed`. orderd reports `READY=1` then at the latest, so a platform that cannot
    /// be ready yet (Kafka down at boot) is still started, with its order API taking orders into
    /// the outbox, and `STATUS=` says what is not ready.
    public var settled: Bool {
        !services.isEmpty && services.allSatisfy { [.ready, .unhealthy, .failed].contains($0.state) }
    }

    /// The `STATUS=` line for systemd, for example `4/4 ready, 1 restart`.
    public var summary: String {
        let restarts = services.map(\.restarts).reduce(0, +)
        var text = "\(readyCount)/\(services.count) ready"
        if restarts > 0 { text += ", \(restarts) restart\(restarts == 1 ? "" : "s")" }
        let failed = services.filter { $0.state == .failed }.map(\.name)
        if !failed.isEmpty { text += ", failed: \(failed.joined(separator: ", "))" }
        let waiting = services.filter { $0.state == .unhealthy }.map(\.name)
        if !waiting.isEmpty { text += ", not ready: \(waiting.joined(separator: ", "))" }
        return text
    }
}
