import Foundation
import Hummingbird
import Kafka
import Logging
import OrderEvents
import ServiceKit
import ServiceLifecycle
import UnixSignals
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `orderd run`: loads the configuration, hosts the embedded broker when no Kafka is
/// configured, serves the control socket and the aggregated `/metrics`, supervises the
/// services, and talks to systemd.
public enum Daemon {
    /// Exit status for a configuration error (sysexits' EX_CONFIG).
    public static let configurationErrorStatus: Int32 = 78

    /// Runs orderd until SIGTERM or SIGINT (a graceful, bounded stop of every service) or a fatal
    /// error, and returns the process exit status: 0 after a graceful stop,
    /// ``configurationErrorStatus`` when the configuration does not load, 1 when the control
    /// socket is taken or unusable, the embedded broker cannot start, or a service of the group
    /// fails.
    public static func run(configPath: String, environment: [String: String]) async -> Int32 {
        let configuration: SupervisorConfiguration
        do {
            configuration = try SupervisorConfiguration.load(path: configPath, environment: environment)
        } catch {
            FileHandle.standardError.write(Data("orderd: \(error)\n".utf8))
            return configurationErrorStatus
        }
        let level = configuration.daemon.logLevel
        LoggingSystem.bootstrap { _ in LineLogHandler(label: "orderd", logLevel: level) }
        let logger = Logger(label: "orderd")
        let socket: ControlSocket
        do {
            socket = try ControlSocket.prepare(configuration.daemon.socketPath, group: configuration.daemon.socketGroup)
        } catch {
            logger.critical("\(error)")
            return 1
        }

        // The embedded broker lives in this process, so it outlives every child's shutdown.
        var cluster: EmbeddedKafkaCluster?
        let brokers: String
        if let configured = configuration.kafka.brokers {
            brokers = configured
        } else {
            do {
                let topics = Topics.defaults.allWithDeadLetters.map {
                    TopicSpecification(
                        name: $0,
                        partitions: configuration.kafka.embeddedPartitions,
                        replicationFactor: 1
                    )
                }
                let embedded = try EmbeddedKafkaCluster(topics: topics)
                cluster = embedded
                brokers = embedded.bootstrapServers
                logger.warning(
                    """
                    EMBEDDED KAFKA on \(brokers): in memory and for development only — nothing survives \
                    a restart of orderd. Set kafka.brokers in \(configPath) or KAFKA_BROKERS for a real cluster.
                    """
                )
            } catch {
                logger.critical("cannot start the embedded Kafka broker: \(error)")
                return 1
            }
        }

        _ = ChildProcesses.shared(adoptOrphans: true)
        let supervisor = Supervisor(
            configuration: configuration,
            brokers: brokers,
            embeddedBroker: cluster != nil,
            logger: logger
        )
        let notifier = SystemdNotifier()
        let supervision = SupervisionLoop(
            supervisor: supervisor,
            notifier: notifier,
            stopBudget: configuration.daemon.stopTimeout,
            logger: logger
        )
        let metrics = AggregatedMetrics(supervisor: supervisor, scrapeTimeout: configuration.daemon.scrapeTimeout)
        let metricsServer = metrics.application(
            host: configuration.daemon.metricsHost,
            port: configuration.daemon.metricsPort,
            logger: logger
        )
        let control = ControlServer.buildApplication(socket: socket, supervisor: supervisor, logger: logger)
        let reload = ReloadHandler(
            configPath: configPath,
            environment: environment,
            supervisor: supervisor,
            notifier: notifier,
            logger: logger
        )
        logger.info(
            "orderd \(getpid()) starting \(configuration.services.count) services from \(configPath); control socket \(configuration.daemon.socketPath), metrics on :\(configuration.daemon.metricsPort)"
        )

        // Graceful shutdown runs in reverse: supervision stops every child first, then the
        // control socket and the metrics endpoint close.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: metricsServer), .init(service: control), .init(service: reload),
                    .init(service: supervision),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            logger.critical("orderd stopped: \(error)")
            await supervisor.stopAll(budget: .seconds(5))
            socket.remove()
            return 1
        }
        socket.remove()
        withExtendedLifetime(cluster) {}
        logger.info("orderd stopped")
        return 0
    }
}

/// Starts the services, keeps systemd informed (READY=1 once all are ready, or once none is
/// still starting — see ``DaemonStatus/settled`` —, STATUS= on every change, watchdog pings while
/// the loop makes progress), and stops everything on shutdown.
struct SupervisionLoop: Service {
    let supervisor: Supervisor
    let notifier: SystemdNotifier
    let stopBudget: Duration
    let logger: Logger

    /// Every task of the loop is a child of one task group: the ordered start (dependency waits),
    /// the watchdog, and the change reporting that runs until graceful shutdown, after which the
    /// group is cancelled and every service is stopped.
    func run() async throws {
        let heartbeat = Heartbeat()
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await supervisor.startAll() }
                if let interval = notifier.watchdogInterval {
                    group.addTask { await self.watchdog(interval: interval, heartbeat: heartbeat) }
                }
                #if DEBUG
                // Debug builds only (the end-to-end tests): ORDERD_TEST_STALL_SIGNAL=1 makes SIGUSR2
                // simulate a wedged supervision loop. Release builds have no such hook.
                if ProcessInfo.processInfo.environment["ORDERD_TEST_STALL_SIGNAL"] == "1" {
                    group.addTask {
                        for await _ in await UnixSignalsSequence(trapping: .sigusr2) { heartbeat.stall() }
                    }
                }
                #endif
                await self.reportChanges(heartbeat: heartbeat)
                group.cancelAll()
            }
        } onGracefulShutdown: {
            notifier.stopping()
        }
        logger.info("stopping all services")
        await supervisor.stopAll(budget: stopBudget)
    }

    /// Follows state changes and a 1 s tick until graceful shutdown. The tick touches every
    /// service actor, so it only advances the heartbeat while supervision is responsive.
    private func reportChanges(heartbeat: Heartbeat) async {
        var announcedReady = false
        var lastStatus = ""
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            let changes = supervisor.stateChanges()
            group.addTask { for await _ in changes { wake.yield() } }
            // The heartbeat tick: a timer, not polling for a state.
            group.addTask {
                while true {
                    wake.yield()
                    do { try await Task.sleep(for: .seconds(1)) } catch { return }
                }
            }
            for await _ in wakeups.cancelOnGracefulShutdown() {
                let status = await supervisor.status()
                if !heartbeat.stalled { heartbeat.beat() }
                if status.summary != lastStatus {
                    lastStatus = status.summary
                    if status.settled && !announcedReady {
                        announcedReady = true
                        notifier.ready(status: status.summary)
                        if status.allReady {
                            logger.info("all \(status.services.count) services ready")
                        } else {
                            logger.warning("started, but not every service is ready: \(status.summary)")
                        }
                    } else {
                        notifier.status(status.summary)
                    }
                }
                if Task.isShuttingDownGracefully { break }
            }
            group.cancelAll()
        }
    }

    /// Pings the watchdog every half interval, but only while the heartbeat is fresh: a wedged
    /// orderd stops pinging and systemd kills and restarts it.
    private func watchdog(interval: Duration, heartbeat: Heartbeat) async {
        while !Task.isShuttingDownGracefully {
            if heartbeat.age < interval / 2 {
                notifier.watchdogPing()
            } else {
                logger.error("supervision loop made no progress for \(heartbeat.age); not pinging the watchdog")
            }
            // The ping interval systemd asks for, a timer.
            do { try await Task.sleep(for: interval / 2) } catch { return }
        }
    }
}

/// The last time the supervision loop made progress.
final class Heartbeat: Sendable {
    private struct State {
        var last = ContinuousClock.now
        var stalled = false
    }

    private let state = Mutex(State())

    func beat() { state.withLock { $0.last = .now } }
    var stalled: Bool { state.withLock { $0.stalled } }
    var age: Duration { state.withLock { ContinuousClock.now - $0.last } }

    #if DEBUG
    /// Simulates a wedged supervision loop (debug builds, for the tests; see ``SupervisionLoop``).
    func stall() { state.withLock { $0.stalled = true } }
    #endif
}

/// SIGHUP: `RELOADING=1`, re-read the configuration, restart only the services whose
/// configuration changed, then `READY=1`. A configuration that does not load is logged and the
/// running one is kept.
struct ReloadHandler: Service {
    let configPath: String
    let environment: [String: String]
    let supervisor: Supervisor
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            notifier.reloading()
            logger.info("SIGHUP: reloading \(configPath)")
            do {
                let configuration = try SupervisorConfiguration.load(path: configPath, environment: environment)
                await supervisor.reload(configuration)
                if await !supervisor.waitUntilAllReady(timeout: .seconds(60)) {
                    logger.warning("reload: not every service is ready after 60 s; reporting READY=1 anyway")
                }
            } catch {
                logger.error("reload failed, keeping the running configuration: \(error)")
            }
            notifier.ready(status: await supervisor.status().summary)
        }
    }
}
