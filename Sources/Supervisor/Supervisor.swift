import Foundation
import Kafka
import Logging

/// Supervises every configured service: ordered start (waiting for `after` dependencies to be
/// ready), reverse-ordered stop, operator commands, reload, and the aggregate state that
/// readiness notification and `orderd status` report.
///
/// A crash-looping service never disturbs the others: each has its own actor, timers and
/// state machine, and the supervisor never exits because its children stopped.
public actor Supervisor {
    public nonisolated let startedAt = ContinuousClock.now
    private let startedWall = Date()
    private var configuration: SupervisorConfiguration
    private var services: [String: SupervisedService] = [:]
    private var order: [String] = []
    private let brokers: String
    private let embeddedBroker: Bool
    private let logger: Logger
    private let changes: AsyncStream<Void>.Continuation
    /// Signals every state change (coalesced); the notifier and STATUS= updates follow it.
    public nonisolated let changeStream: AsyncStream<Void>

    public init(configuration: SupervisorConfiguration, brokers: String, embeddedBroker: Bool, logger: Logger) {
        self.configuration = configuration
        self.brokers = brokers
        self.embeddedBroker = embeddedBroker
        self.logger = logger
        (changeStream, changes) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        for spec in configuration.services {
            services[spec.name] = Self.makeService(spec, configuration: configuration, brokers: brokers, embeddedBroker: embeddedBroker, logger: logger, changes: changes)
        }
        order = configuration.services.map(\.name)
    }

    private func add(_ spec: ServiceSpec) {
        services[spec.name] = Self.makeService(spec, configuration: configuration, brokers: brokers, embeddedBroker: embeddedBroker, logger: logger, changes: changes)
        order = configuration.services.map(\.name).filter { services[$0] != nil }
    }

    private static func makeService(
        _ spec: ServiceSpec, configuration: SupervisorConfiguration, brokers: String, embeddedBroker: Bool, logger: Logger,
        changes: AsyncStream<Void>.Continuation
    ) -> SupervisedService {
        SupervisedService(
            spec: spec,
            environment: childEnvironment(spec, configuration: configuration, brokers: brokers, embeddedBroker: embeddedBroker),
            logger: logger, onChange: { changes.yield() }
        )
    }

    /// The child's environment, built explicitly: orderd's own minus what belongs to orderd's
    /// manager (NOTIFY_SOCKET, WATCHDOG_*, LISTEN_*), plus the platform's variables, plus the
    /// service's configured environment last. With the embedded broker, the settings that suit
    /// only the mock cluster (``EmbeddedKafkaCluster/lowLatencyProperties``) come first, so
    /// orderd's environment and the configuration still override them.
    static func childEnvironment(
        _ spec: ServiceSpec, configuration: SupervisorConfiguration, brokers: String, embeddedBroker: Bool = false
    ) -> [String: String] {
        let privateToOrderd: Set<String> = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"]
        var environment = ProcessInfo.processInfo.environment.filter { !privateToOrderd.contains($0.key) }
        environment["ORDERD_PID"] = String(getpid())
        environment["SERVICE_NAME"] = spec.name
        environment["METRICS_PORT"] = String(spec.metricsPort)
        environment["DATA_DIR"] = (configuration.daemon.dataDirectory as NSString).appendingPathComponent(spec.name)
        environment["KAFKA_BROKERS"] = brokers
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

    /// Starts every service; one with `after` dependencies starts once they are all ready (or
    /// alive but not ready past their startup budget, as when Kafka is down, so that the
    /// order API still starts and accepts orders into its outbox).
    public func startAll() {
        for name in order {
            guard let service = services[name] else { continue }
            let dependencies = service.spec.after.compactMap { services[$0] }
            Task {
                for dependency in dependencies {
                    while ![.ready, .unhealthy].contains(await dependency.state) {
                        try? await Task.sleep(for: .milliseconds(50))
                        if Task.isCancelled { return }
                    }
                }
                await self.startUnlessHeldBack(service)
            }
        }
    }

    private func startUnlessHeldBack(_ service: SupervisedService) async {
        guard !shuttingDown, !heldBack.contains(service.name) else { return }
        await service.send(.start)
    }

    /// Stops every service in reverse start order, each within its stop timeout (SIGTERM to
    /// its process group, then SIGKILL). Whatever still runs when `budget` is spent is killed.
    public func stopAll(budget: Duration) async {
        shuttingDown = true
        let deadline = ContinuousClock.now + budget
        for name in order.reversed() {
            guard let service = services[name] else { continue }
            await service.send(.shutdown)
            let left = deadline - ContinuousClock.now
            if await !service.waitFor([.stopped, .failed], timeout: min(left, service.spec.supervisionPolicy.stopTimeout + .seconds(1))) {
                logger.warning("\(name) did not stop in time; killing its process group")
                await service.killNow()
                _ = await service.waitFor([.stopped, .failed], timeout: .seconds(2))
            }
        }
    }

    public enum Command: String, Sendable, CaseIterable {
        case start, stop, restart
        case resetFailed = "reset-failed"
    }

    public enum CommandError: Error, Sendable, Equatable, CustomStringConvertible {
        case unknownService(String, known: [String])
        public var description: String {
            switch self {
            case .unknownService(let name, let known): "no service named \(name); configured: \(known.joined(separator: ", "))"
            }
        }
    }

    public func perform(_ command: Command, service name: String) async throws(CommandError) -> ServiceStatus {
        guard let service = services[name] else { throw .unknownService(name, known: order) }
        if command == .stop { heldBack.insert(name) } else { heldBack.remove(name) }
        switch command {
        case .start: await service.send(.start)
        case .stop: await service.send(.stop)
        case .restart: await service.send(.restart)
        case .resetFailed: await service.send(.resetFailed)
        }
        logger.info("operator: \(command.rawValue) \(name)")
        return await service.snapshot()
    }

    public func status() async -> DaemonStatus {
        var rows: [ServiceStatus] = []
        for name in order {
            if let service = services[name] { rows.append(await service.snapshot()) }
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

    public var specs: [ServiceSpec] { order.compactMap { services[$0]?.spec } }

    /// Applies a re-read configuration: services whose specification changed are restarted
    /// with it, removed ones are stopped, new ones started; the rest are not touched.
    public func reload(_ new: SupervisorConfiguration) async {
        let old = configuration
        configuration = new
        let oldSpecs = Dictionary(uniqueKeysWithValues: old.services.map { ($0.name, $0) })
        let newSpecs = Dictionary(uniqueKeysWithValues: new.services.map { ($0.name, $0) })
        for (name, spec) in oldSpecs where newSpecs[name] == nil {
            logger.info("reload: \(name) removed from the configuration; stopping it")
            if let service = services[name] {
                await service.send(.stop)
                _ = await service.waitFor([.stopped, .failed], timeout: spec.supervisionPolicy.stopTimeout + .seconds(1))
            }
            services[name] = nil
        }
        for spec in new.services {
            let environmentChanged = old.kafka != new.kafka || old.daemon.dataDirectory != new.daemon.dataDirectory
            if let previous = oldSpecs[spec.name], previous == spec, !environmentChanged { continue }
            if let service = services[spec.name] {
                logger.info("reload: \(spec.name) changed; restarting it with the new configuration")
                await service.send(.stop)
                if await !service.waitFor([.stopped, .failed], timeout: service.spec.supervisionPolicy.stopTimeout + .seconds(1)) {
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
        changes.yield()
    }

    /// True when every service is ready.
    public func allReady() async -> Bool {
        for name in order {
            if await services[name]?.state != .ready { return false }
        }
        return true
    }
}

/// What `orderd status --json` prints.
public struct DaemonStatus: Sendable, Hashable, Codable {
    public var pid: Int32
    public var uptimeSeconds: Double
    public var startedAt: String
    public var broker: String
    public var embeddedBroker: Bool
    public var config: String
    public var services: [ServiceStatus]

    public var readyCount: Int { services.filter(\.ready).count }
    public var allReady: Bool { !services.isEmpty && services.allSatisfy(\.ready) }

    /// The `STATUS=` line for systemd, for example `4/4 ready, 1 restart`.
    public var summary: String {
        let restarts = services.map(\.restarts).reduce(0, +)
        var text = "\(readyCount)/\(services.count) ready"
        if restarts > 0 { text += ", \(restarts) restart\(restarts == 1 ? "" : "s")" }
        let failed = services.filter { $0.state == .failed }.map(\.name)
        if !failed.isEmpty { text += ", failed: \(failed.joined(separator: ", "))" }
        return text
    }
}
