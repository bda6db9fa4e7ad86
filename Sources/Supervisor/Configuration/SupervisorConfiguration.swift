import Foundation
import Kafka
import Logging

/// orderd's validated configuration, built once at start-up (and again on SIGHUP) from a TOML
/// file. Every default is filled in (see ``ConfigurationDefaults``); every value has been
/// checked, so the runtime never has to second-guess it.
public struct SupervisorConfiguration: Sendable, Hashable {
    /// The file the configuration was read from (as given to ``load(path:environment:executableDirectory:)``).
    public var source: String
    /// `[orderd]`
    public var daemon: DaemonSettings
    /// `[kafka]`
    public var kafka: KafkaSettings
    /// `[services.<name>]`, in start order: topological by `after`, ties broken by the order the
    /// services appear in the file. Stop order is the reverse.
    public var services: [ServiceSpec]

    public init(source: String, daemon: DaemonSettings, kafka: KafkaSettings, services: [ServiceSpec]) {
        self.source = source
        self.daemon = daemon
        self.kafka = kafka
        self.services = services
    }

    /// The service called `name`, if configured.
    public func service(named name: String) -> ServiceSpec? {
        services.first { $0.name == name }
    }
}

/// `[orderd]`: the daemon itself.
public struct DaemonSettings: Sendable, Hashable {
    /// `socket_path`: the control API's Unix socket. Default: see ``ConfigurationDefaults/socketPath(environment:uid:)``.
    public var socketPath: String
    /// `socket_group`: when set, the socket is mode 0660 owned by this group; otherwise 0600.
    public var socketGroup: String?
    /// `metrics_host`: bind address of the aggregated `/metrics` endpoint.
    public var metricsHost: String
    /// `metrics_port`: port of the aggregated `/metrics` endpoint.
    public var metricsPort: Int
    /// `scrape_timeout`: how long one child's `/metrics` may take before it is reported `up=0`.
    public var scrapeTimeout: Duration
    /// `stop_timeout`: the total budget for stopping every service on shutdown.
    public var stopTimeout: Duration
    /// `data_directory`: each service gets `DATA_DIR=<data_directory>/<service>`.
    public var dataDirectory: String
    /// `binary_directory`: absolute directory relative `executable`s are resolved against.
    public var binaryDirectory: String
    /// `log_level`: orderd's own log level.
    public var logLevel: Logger.Level

    public init(
        socketPath: String,
        socketGroup: String? = nil,
        metricsHost: String = ConfigurationDefaults.metricsHost,
        metricsPort: Int = ConfigurationDefaults.metricsPort,
        scrapeTimeout: Duration = ConfigurationDefaults.scrapeTimeout,
        stopTimeout: Duration = ConfigurationDefaults.stopTimeout,
        dataDirectory: String = ConfigurationDefaults.dataDirectory,
        binaryDirectory: String,
        logLevel: Logger.Level = ConfigurationDefaults.logLevel
    ) {
        self.socketPath = socketPath
        self.socketGroup = socketGroup
        self.metricsHost = metricsHost
        self.metricsPort = metricsPort
        self.scrapeTimeout = scrapeTimeout
        self.stopTimeout = stopTimeout
        self.dataDirectory = dataDirectory
        self.binaryDirectory = binaryDirectory
        self.logLevel = logLevel
    }

    /// The socket's permission bits: 0660 with a group, else 0600.
    public var socketMode: UInt16 { socketGroup == nil ? 0o600 : 0o660 }
}

/// `[kafka]`
public struct KafkaSettings: Sendable, Hashable {
    /// `brokers`, else `$KAFKA_BROKERS`; `nil` means orderd hosts the embedded broker.
    public var brokers: String?
    /// `embedded_partitions`: partitions per topic in the embedded broker.
    public var embeddedPartitions: Int
    /// `[kafka.properties]`: librdkafka properties handed to every service as `KAFKA_<UPPER_SNAKE>`.
    public var properties: [String: String]

    public init(
        brokers: String? = nil,
        embeddedPartitions: Int = ConfigurationDefaults.embeddedPartitions,
        properties: [String: String] = [:]
    ) {
        self.brokers = brokers
        self.embeddedPartitions = embeddedPartitions
        self.properties = properties
    }

    /// True when orderd must run the embedded broker.
    public var usesEmbeddedBroker: Bool { brokers == nil }

    /// The properties as the services' environment variables:
    /// `security.protocol` → `KAFKA_SECURITY_PROTOCOL`.
    public var environment: [String: String] {
        Dictionary(uniqueKeysWithValues: properties.map { (Self.environmentVariable(forProperty: $0.key), $0.value) })
    }

    /// `security.protocol` → `KAFKA_SECURITY_PROTOCOL` (dots and dashes become underscores).
    public static func environmentVariable(forProperty property: String) -> String {
        "KAFKA_" + String(property.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 })
    }

    /// Whether a property (or environment variable) name denotes a secret, whose value is never
    /// printed: it contains password, secret, jaas, pem, token or key (any case).
    public static func isSecret(_ name: String) -> Bool {
        KafkaProperty.isSensitive(name)
    }
}

/// One supervised service, `[services.<name>]`, with `[defaults]` and built-in defaults applied.
public struct ServiceSpec: Sendable, Hashable {
    /// The table name: used in logs, metrics labels (`service=`), `SERVICE_NAME` and the CLI.
    public var name: String
    /// Absolute path of the executable (`executable`, default: the service name, resolved
    /// against `binary_directory` when relative).
    public var executable: String
    public var arguments: [String]
    /// `working_directory` (default `.`, orderd's own working directory).
    public var workingDirectory: String
    /// `[services.<name>.environment]`: added last, over everything orderd sets.
    public var environment: [String: String]
    /// `metrics_port` (required): `/metrics`, `/health`, `/ready`; exported as `METRICS_PORT`
    /// unless `environment` sets it.
    public var metricsPort: Int
    /// Services that must be ready before this one starts.
    public var after: [String]
    public var restart: RestartPolicy
    public var backoff: BackoffPolicy
    public var startLimit: StartLimit
    /// Time between SIGTERM and SIGKILL.
    public var stopTimeout: Duration
    public var probes: ProbeSettings

    public init(
        name: String,
        executable: String,
        arguments: [String] = [],
        workingDirectory: String = ConfigurationDefaults.workingDirectory,
        environment: [String: String] = [:],
        metricsPort: Int,
        after: [String] = [],
        restart: RestartPolicy = ConfigurationDefaults.restart,
        backoff: BackoffPolicy = ConfigurationDefaults.backoff,
        startLimit: StartLimit = ConfigurationDefaults.startLimit,
        stopTimeout: Duration = ConfigurationDefaults.serviceStopTimeout,
        probes: ProbeSettings = ConfigurationDefaults.probes
    ) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.metricsPort = metricsPort
        self.after = after
        self.restart = restart
        self.backoff = backoff
        self.startLimit = startLimit
        self.stopTimeout = stopTimeout
        self.probes = probes
    }

    /// The restart/backoff/start-limit/stop settings in the shape the supervision state
    /// machine takes.
    public var supervisionPolicy: SupervisionPolicy {
        SupervisionPolicy(
            restart: restart,
            backoffInitial: backoff.initial,
            backoffMaximum: backoff.maximum,
            backoffResetAfter: backoff.resetAfter,
            startLimitBurst: startLimit.burst,
            startLimitInterval: startLimit.interval,
            stopTimeout: stopTimeout,
            startupBudget: probes.startupBudget,
            livenessFailureThreshold: probes.livenessFailureThreshold,
            readinessFailureThreshold: probes.readinessFailureThreshold
        )
    }

    public var probeInterval: Duration { probes.interval }
    public var probeTimeout: Duration { probes.timeout }
}

/// Restart delay: `initial`, doubling per consecutive restart up to `maximum`; back to
/// `initial` once the service has been ready for `resetAfter`.
public struct BackoffPolicy: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration
    public var resetAfter: Duration

    public init(initial: Duration, maximum: Duration, resetAfter: Duration) {
        self.initial = initial
        self.maximum = maximum
        self.resetAfter = resetAfter
    }
}

/// More than `burst` starts within `interval` marks a service failed instead of restarting it.
public struct StartLimit: Sendable, Hashable {
    public var burst: Int
    public var interval: Duration

    public init(burst: Int, interval: Duration) {
        self.burst = burst
        self.interval = interval
    }
}

/// Kubelet-style probing of `/health` (liveness) and `/ready` (readiness).
public struct ProbeSettings: Sendable, Hashable {
    /// How long a starting service has to become ready; liveness failures do not count before.
    public var startupBudget: Duration
    public var interval: Duration
    /// Per-request timeout.
    public var timeout: Duration
    /// Consecutive liveness failures that restart the service.
    public var livenessFailureThreshold: Int
    /// Consecutive readiness failures that mark it not ready (no restart).
    public var readinessFailureThreshold: Int

    public init(
        startupBudget: Duration, interval: Duration, timeout: Duration,
        livenessFailureThreshold: Int, readinessFailureThreshold: Int
    ) {
        self.startupBudget = startupBudget
        self.interval = interval
        self.timeout = timeout
        self.livenessFailureThreshold = livenessFailureThreshold
        self.readinessFailureThreshold = readinessFailureThreshold
    }
}

/// A configuration problem, naming the file and the dotted key
/// (`services.payment-service.restart`). Syntax errors name the line instead.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// Dotted key, e.g. `services.payment-service.restart`; empty when the problem is the file
    /// as a whole (unreadable, invalid TOML).
    public var key: String
    public var message: String
    /// The line, for TOML syntax errors.
    public var line: Int?

    public init(file: String, key: String, message: String, line: Int? = nil) {
        self.file = file
        self.key = key
        self.message = message
        self.line = line
    }

    /// `<file>: <key>: <message>` (`<file>: <message>` when there is no key).
    public var description: String {
        key.isEmpty ? "\(file): \(message)" : "\(file): \(key): \(message)"
    }
}

extension SupervisorConfiguration {
    /// Reads and validates the file at `path`.
    ///
    /// - Parameters:
    ///   - environment: consulted for `KAFKA_BROKERS`, `ORDERD_BIN_DIR` and the socket-path
    ///     defaults (`RUNTIME_DIRECTORY`, `XDG_RUNTIME_DIR`).
    ///   - executableDirectory: where relative executables are found when neither
    ///     `orderd.binary_directory` nor `$ORDERD_BIN_DIR` say; default the running executable's directory.
    public static func load(
        path: String,
        environment: [String: String],
        executableDirectory: String? = nil
    ) throws(ConfigurationError) -> SupervisorConfiguration {
        let text: String
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let decoded = String(data: data, encoding: .utf8) else {
                throw ConfigurationError(file: path, key: "", message: "is not valid UTF-8")
            }
            text = decoded
        } catch let error as ConfigurationError {
            throw error
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? error.localizedDescription
            throw ConfigurationError(file: path, key: "", message: "cannot read the configuration file: \(reason)")
        }
        return try parse(text, source: path, environment: environment, executableDirectory: executableDirectory)
    }

    /// Parses and validates a TOML document; `source` names it in errors and in ``source``.
    public static func parse(
        _ text: String,
        source: String,
        environment: [String: String],
        executableDirectory: String? = nil
    ) throws(ConfigurationError) -> SupervisorConfiguration {
        let parser = ConfigurationParser(
            source: source, environment: environment, executableDirectory: executableDirectory
        )
        return try parser.parse(text)
    }

    /// The configuration file to use: `explicit` (`--config`) when given, else `$ORDERD_CONFIG`,
    /// else the first of `./etc/orderd.toml` and `/etc/orderd/orderd.toml` that exists.
    /// An explicit path is returned even when it does not exist, so loading it fails naming it
    /// rather than silently falling back to another file.
    public static func locate(
        explicit: String?,
        environment: [String: String],
        fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }
    ) -> String? {
        if let explicit, !explicit.isEmpty { return explicit }
        if let variable = environment[ConfigurationDefaults.configVariable], !variable.isEmpty { return variable }
        return ConfigurationDefaults.searchPaths.first(where: fileExists)
    }
}
