import Foundation
import Kafka
import Logging
import Storage

/// orderd's validated configuration, built once at start-up (and again on SIGHUP) from a TOML
/// file. Every default is filled in and every value has been checked, so the runtime never has
/// to second-guess it.
public struct SupervisorConfiguration: Sendable, Hashable {
    /// The file the configuration was read from (as given to ``load(path:environment:executableDirectory:)``).
    public var source: String
    /// `[orderd]`
    public var daemon: DaemonSettings
    /// `[kafka]`
    public var kafka: KafkaSettings
    /// `[database]`
    public var database = DatabaseSettings()
    /// `[services.<name>]`, one entry per instance, in start order: topological by `after`, ties broken by `priority`
    /// (lower first), then by name. Stop order is the reverse.
    public var services: [ServiceSpec]

    /// The service (or service instance) called `name`, if configured.
    public func service(named name: String) -> ServiceSpec? {
        services.first { $0.name == name }
    }

    /// The instances of configured service `service` (one, named as the service, unless it has
    /// `instances` > 1), in instance order.
    public func instances(of service: String) -> [ServiceSpec] {
        services.filter { $0.service == service }.sorted { ($0.instance ?? 0) < ($1.instance ?? 0) }
    }
}

/// `[orderd]`: the daemon itself. Each property documents its key and default.
public struct DaemonSettings: Sendable, Hashable {
    /// `socket_path`: the control API's Unix socket. Default: ``ConfigurationDefaults/socketPath(environment:uid:)``.
    public var socketPath: String
    /// `socket_group`: when set, the socket is mode 0660 owned by this group; otherwise 0600.
    public var socketGroup: String?
    /// `metrics_host`: bind address of the aggregated `/metrics` endpoint. Default `0.0.0.0`.
    public var metricsHost = "0.0.0.0"
    /// `metrics_port`: port of the aggregated `/metrics` endpoint. Default 9200.
    public var metricsPort = 9200
    /// `scrape_timeout`: how long one child's `/metrics` may take before it is reported `up=0`. Default 2 s.
    public var scrapeTimeout: Duration = .seconds(2)
    /// `stop_timeout`: the total budget for stopping every service on shutdown. Default 30 s.
    public var stopTimeout: Duration = .seconds(30)
    /// `data_directory`: each service gets `DATA_DIR=<data_directory>/<service>`. Default `./data`.
    public var dataDirectory = "./data"
    /// `binary_directory`: absolute directory relative `executable`s are resolved against.
    /// Default `$ORDERD_BIN_DIR`, else the running orderd's directory.
    public var binaryDirectory: String
    /// `log_level`: orderd's own log level. Default `info`.
    public var logLevel: Logger.Level = .info
}

/// `[kafka]`
public struct KafkaSettings: Sendable, Hashable {
    /// `brokers`, else `$KAFKA_BROKERS`; `nil` means orderd hosts the embedded broker.
    public var brokers: String?
    /// `embedded_partitions`: partitions per topic in the embedded broker. Default 3.
    public var embeddedPartitions = 3
    /// `[kafka.properties]`: librdkafka properties handed to every service as `KAFKA_<UPPER_SNAKE>`.
    public var properties: [String: String] = [:]

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

/// `[database]`: where the services keep their state.
public struct DatabaseSettings: Sendable, Hashable {
    /// `url`, else `$DATABASE_URL`: a PostgreSQL server on which each service keeps its state in
    /// a schema of its own, handed to every service as `DATABASE_URL`; shown without its
    /// password. Unset: each service keeps a SQLite file under `orderd.data_directory`.
    public var url: DatabaseURL?

    public init(url: DatabaseURL? = nil) {
        self.url = url
    }
}

/// One supervised process: a service `[services.<name>]`, or one of its `instances`, with
/// `[defaults]` and built-in defaults applied.
public struct ServiceSpec: Sendable, Hashable {
    /// The process's name in logs, metrics labels (`service=`), `orderd status` and the CLI:
    /// the table name, or `<table name>.<instance>` when the service has several instances.
    public var name: String
    /// The service it runs (`SERVICE_NAME`): the table name, shared by its instances.
    public var service: String
    /// `instances` (1–64, default 1): how many processes of the service orderd runs. Several
    /// need `[database] url`: instances share the service's state there.
    public var instances = 1
    /// This process's instance number (`SERVICE_INSTANCE`, from 1) when the service has several
    /// instances; nil when it has one.
    public var instance: Int?
    /// Absolute path of the executable (`executable`, default: the service name, resolved
    /// against `binary_directory` when relative).
    public var executable: String
    /// `arguments`. Default none.
    public var arguments: [String] = []
    /// `working_directory`. Default `.`, orderd's own working directory.
    public var workingDirectory = "."
    /// `[services.<name>.environment]`: added last, over everything orderd sets; for one of
    /// several instances with `${INSTANCE}` replaced by its number.
    public var environment: [String: String] = [:]
    /// The environment as configured, `${INSTANCE}` not replaced: what `check-config` prints.
    public var configuredEnvironment: [String: String] { instanceTemplate ?? environment }
    /// The environment of the service's table when this is one of several instances.
    var instanceTemplate: [String: String]?
    /// `metrics_port` (required): `/metrics`, `/health`, `/ready`; exported as `METRICS_PORT`
    /// unless `environment` sets it. Instance `n` of several uses `metrics_port + n - 1`.
    public var metricsPort: Int
    /// `after`: services that must be ready before this one starts. Default none.
    public var after: [String] = []
    /// `priority`: among services whose `after` allows it, lower starts first and stops last. Default 0.
    public var priority = 0
    /// Restart, backoff, start limit, stop timeout and probes.
    public var supervisionPolicy = SupervisionPolicy()

    /// Shorthand for `supervisionPolicy.probeInterval`.
    public var probeInterval: Duration { supervisionPolicy.probeInterval }
    /// Shorthand for `supervisionPolicy.probeTimeout`.
    public var probeTimeout: Duration { supervisionPolicy.probeTimeout }
}

/// A configuration problem, naming the file and the dotted key
/// (`services.payment-service.restart`). Syntax errors name the line instead.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The configuration file's path (or the `source` given to `parse`).
    public var file: String
    /// Dotted key, e.g. `services.payment-service.restart`; empty when the problem is the file
    /// as a whole (unreadable, invalid TOML).
    public var key: String
    /// What is wrong and, where it helps, what to write instead.
    public var message: String
    /// The line, for TOML syntax errors.
    public var line: Int?

    /// A problem with `key` of `file`; `file` may be filled in later by the caller that knows it.
    public init(file: String = "", key: String, message: String, line: Int? = nil) {
        self.file = file
        self.key = key
        self.message = message
        self.line = line
    }

    /// A problem with the value at the dotted `key`; ``SupervisorConfiguration`` adds the file.
    init(_ key: String, _ message: String) { self.init(key: key, message: message) }

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
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? error.localizedDescription
            throw ConfigurationError(file: path, key: "", message: "cannot read the configuration file: \(reason)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(file: path, key: "", message: "is not valid UTF-8")
        }
        return try parse(text, source: path, environment: environment, executableDirectory: executableDirectory)
    }

    /// Parses and validates a TOML document; `source` names it in errors and in ``source``.
    /// A key orderd does not know is an error, never ignored.
    public static func parse(
        _ text: String,
        source: String,
        environment: [String: String],
        executableDirectory: String? = nil
    ) throws(ConfigurationError) -> SupervisorConfiguration {
        do {
            let file = try ConfigurationFile.decode(text)
            return try file.resolve(source: source, environment: environment, executableDirectory: executableDirectory)
        } catch {
            var error = error
            error.file = source
            throw error
        }
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
