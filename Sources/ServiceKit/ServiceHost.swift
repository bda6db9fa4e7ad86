import CProcessControl
import Configuration
import Foundation
import Hummingbird
import Kafka
import Logging
import OrderEvents
import Prometheus
import ServiceLifecycle
import Storage

/// A platform service: an event handler with its identity, tables and optional extra parts.
public protocol PlatformService: EventHandler {
    static var identity: ServiceIdentity { get }

    /// Builds the service from the shared configuration and its own variables.
    init(configuration: ServiceConfiguration, reader: ConfigReader, logger: Logger) throws(ServiceConfigurationError)

    /// The service's own tables, applied in order after the platform's (names are versions:
    /// never change a shipped one, add a new one).
    static var migrations: [Migration] { get }

    /// Runs once after the store is open, before anything is consumed (for example seeding stock).
    func prepare(store: EventStore) async throws

    /// Extra long-running parts, such as order-service's REST API.
    func additionalServices(runtime: ServiceRuntime) throws -> [any Service]
}

extension PlatformService {
    /// Nothing to prepare.
    public func prepare(store: EventStore) async throws {}
    /// No extra parts.
    public func additionalServices(runtime: ServiceRuntime) throws -> [any Service] { [] }
}

/// What a service's extra parts can use.
public struct ServiceRuntime: Sendable {
    /// The validated settings every service shares.
    public let configuration: ServiceConfiguration
    /// The environment, for a part's own variables (for example the order API's `PORT`).
    public let reader: ConfigReader
    /// The service's store; its transactions are the only way to write state and outbox rows.
    public let store: EventStore
    /// Wake it after committing outbox rows outside the consume loop.
    public let relay: OutboxRelay
    /// The `/ready` state; a part may add its own checks' results.
    public let readiness: Readiness
    /// The service's logger (label: the service name).
    public let logger: Logger
}

/// Runs a ``PlatformService`` as a process: configuration, logging, metrics, store, Kafka
/// clients, the consume loop, the outbox relay, the operations endpoints, and graceful
/// shutdown on SIGTERM/SIGINT.
public enum ServiceHost {
    /// Exit status for a configuration error (sysexits' EX_CONFIG).
    public static let configurationErrorStatus: Int32 = 78

    /// Runs `S` until SIGTERM/SIGINT, then shuts down gracefully and exits 0; exits
    /// ``configurationErrorStatus`` after printing the problem when a variable is invalid, and 1
    /// when a part fails (the failure is logged first). With `arguments`, runs the operator's
    /// subcommand they name instead (`outbox …`, `dead-letters …`, `--help`; see
    /// `OperatorCommands`) and exits.
    public static func main<S: PlatformService>(
        _: S.Type,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        arguments: [String] = Array(CommandLine.arguments.dropFirst())
    ) async -> Never {
        if !arguments.isEmpty { await OperatorCommands.main(S.self, arguments: arguments, environment: environment) }
        // A closed stdout (its reader died) must not kill the service mid-shutdown.
        signal(SIGPIPE, SIG_IGN)
        let reader = ConfigReader(environment: environment)
        let configuration: ServiceConfiguration
        let service: S
        var bootLogger = Logger(label: S.identity.name)
        do {
            configuration = try ServiceConfiguration(identity: S.identity, environment: environment)
            let registry = Observability.bootstrap(label: configuration.instanceName, logLevel: configuration.logLevel)
            bootLogger = Logger(label: configuration.instanceName)
            service = try S(configuration: configuration, reader: reader, logger: bootLogger)
            watchSupervisor(configuration.supervisorPid, logger: bootLogger)
            try await run(service, configuration: configuration, reader: reader, registry: registry, logger: bootLogger)
            // Not exit(3): a Kafka close abandoned at its budget may still run on its thread, and
            // atexit handlers and static destructors must not run under it.
            exitAbruptly(0)
        } catch let error as ServiceConfigurationError {
            FileHandle.standardError.write(Data("\(S.identity.name): configuration error: \(error)\n".utf8))
            exit(configurationErrorStatus)
        } catch {
            bootLogger.critical("\(S.identity.name) stopped: \(error)")
            exit(1)
        }
    }

    static func run<S: PlatformService>(
        _ service: S,
        configuration: ServiceConfiguration,
        reader: ConfigReader,
        registry: PrometheusCollectorRegistry,
        logger: Logger
    ) async throws {
        if reader.trimmedString(forKey: "kafka.brokers") == nil {
            logger.warning("KAFKA_BROKERS is not set: using \(ServiceConfiguration.defaultBrokers)")
        }
        logger.info(
            "starting",
            metadata: [
                "brokers": .string(configuration.kafka.bootstrapServers), "group": .string(configuration.groupId),
                "metricsPort": .stringConvertible(configuration.metricsPort),
                "store": .string(
                    configuration.databaseURL.map {
                        "\($0) (schema \(EventStore.schemaName(for: configuration.serviceName)))"
                    } ?? configuration.dataDirectory
                ),
                "kafkaProperties": .string(configuration.kafka.properties.map(\.redacted).joined(separator: ", ")),
            ]
        )
        let store = try await EventStore.open(configuration, migrations: S.migrations, logger: logger)
        try await service.prepare(store: store)
        let producer = try KafkaProducer(
            configuration: configuration.kafka,
            logger: logger,
            shutdownTimeout: ShutdownBudget.producerFlush
        )
        let readiness = Readiness()
        let relay = OutboxRelay(
            store: store,
            producer: producer,
            logger: logger,
            // Rows another instance commits to a shared PostgreSQL schema wake no relay here:
            // the publishing instance looks every 100 ms (one indexed query of unsent rows).
            idleInterval: store.database.dialect == .postgres ? .milliseconds(100) : .seconds(1),
            drainTimeout: ShutdownBudget.relayDrain,
            outboxRetention: configuration.outboxRetention,
            inboxRetention: configuration.inboxRetention,
            readiness: readiness
        )
        let runtime = ServiceRuntime(
            configuration: configuration,
            reader: reader,
            store: store,
            relay: relay,
            readiness: readiness,
            logger: logger
        )
        let operations = ListeningServer(
            OperationsServer.buildApplication(
                host: configuration.metricsHost,
                port: configuration.metricsPort,
                registry: registry,
                readiness: readiness,
                service: configuration.serviceName,
                logger: logger
            ),
            host: configuration.metricsHost,
            port: configuration.metricsPort,
            variable: "METRICS_PORT"
        )
        let consumer = EventConsumerService(
            configuration: configuration,
            store: store,
            handler: service,
            relay: relay,
            readiness: readiness,
            logger: logger
        )
        let probe = ReadinessProbe(readiness: readiness, producer: producer, store: store, logger: logger)
        // Graceful shutdown runs in reverse: extra parts (the order API) stop taking work first,
        // then the consumer finishes its message and commits, then the relay drains the outbox
        // and settles the producer (flushes, and fails what the flush could not deliver), and
        // the operations endpoints answer until the end; the producer's own graceful shutdown,
        // which ends its poll loop, comes last. It runs first so that its poll thread serves
        // delivery reports before anything sends.
        let services: [any Service] =
            [producer, operations, probe, relay, consumer] + (try service.additionalServices(runtime: runtime))
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: ShutdownDeadline(logger: logger), successTerminationBehavior: .ignore)]
                + services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        // Bounded (see ShutdownBudget): orderd SIGKILLs a service 10 s after SIGTERM by default.
        // A cancellation that overruns is ended by ShutdownDeadline, not by ServiceLifecycle's
        // fatalError.
        groupConfiguration.maximumGracefulShutdownDuration = ShutdownBudget.graceful
        groupConfiguration.maximumCancellationDuration = nil
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
        logger.info("stopped")
    }

    /// When started by orderd, exit with it: the kernel sends SIGTERM when the parent dies (a
    /// graceful shutdown starts), and a watcher ends the process at most `orphanGrace` later,
    /// since a supervisor that died may have taken the embedded broker with it and a graceful
    /// shutdown cannot finish. A parent already gone before prctl means exit now. Nothing is
    /// lost either way: effects are committed transactions; uncommitted offsets are re-delivered.
    static func watchSupervisor(_ pid: Int32?, logger: Logger) {
        guard let pid else { return }
        if cprocesscontrol_set_parent_death_signal(SIGTERM) != 0 {
            logger.warning("cannot set the parent-death signal; this process may outlive orderd")
        }
        if getppid() != pid {
            logger.critical("orderd (pid \(pid)) is gone; exiting")
            exitAbruptly(1)
        }
        let thread = Thread {
            while getppid() == pid { Thread.sleep(forTimeInterval: 0.1) }
            logger.critical("orderd (pid \(pid)) died; stopping within \(orphanGrace) s")
            Thread.sleep(forTimeInterval: orphanGrace)
            exitAbruptly(1)
        }
        thread.name = "supervisor-watch"
        thread.start()
    }

    /// Ends the process while other threads (librdkafka's, the thread pools) may still run:
    /// `exit(3)` would run atexit handlers and static destructors under them, a known way to hang
    /// or crash on the way out. Only the log lines are flushed (bounded); `_exit(2)` does the rest.
    static func exitAbruptly(_ status: Int32) -> Never {
        _ = LogSink.standardOutput.flush(timeout: LogSink.exitFlushTimeout)
        _exit(status)
    }

    /// How long a service outlives a dead orderd at most (orderd promises every child is gone
    /// within 2 s).
    static let orphanGrace: TimeInterval = 1.2
}
