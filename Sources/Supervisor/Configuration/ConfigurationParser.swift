import Foundation
import Logging
import TOMLKit

/// Turns the TOML text into a ``SupervisorConfiguration``, rejecting anything it does not
/// understand. Every error names the file and the dotted key.
struct ConfigurationParser {
    let source: String
    let environment: [String: String]
    let executableDirectory: String?

    // MARK: Keys

    static let rootKeys = ["orderd", "kafka", "defaults", "services"]
    static let daemonKeys = [
        "socket_path", "socket_group", "metrics_host", "metrics_port", "scrape_timeout",
        "stop_timeout", "data_directory", "binary_directory", "log_level",
    ]
    static let kafkaKeys = ["brokers", "embedded_partitions", "properties"]
    static let policyKeys = [
        "restart", "backoff_initial", "backoff_max", "backoff_reset_after",
        "start_limit_burst", "start_limit_interval", "stop_timeout", "probes",
    ]
    static let probeKeys = [
        "startup_budget", "interval", "timeout", "liveness_failure_threshold", "readiness_failure_threshold",
    ]
    static let serviceKeys = [
        "executable", "arguments", "working_directory", "environment", "metrics_port", "after",
    ] + policyKeys
    /// Properties that would fight `kafka.brokers`.
    static let brokerProperties: Set<String> = ["bootstrap.servers", "metadata.broker.list"]

    func error(_ key: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: source, key: key, message: message)
    }

    // MARK: Document

    func parse(_ text: String) throws(ConfigurationError) -> SupervisorConfiguration {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let parseError as TOMLParseError {
            let position = parseError.source.begin
            throw ConfigurationError(
                file: source, key: "",
                message: "invalid TOML at line \(position.line), column \(position.column): \(parseError.description)",
                line: position.line
            )
        } catch {
            throw ConfigurationError(file: source, key: "", message: "invalid TOML: \(error)")
        }
        let configuration = try build(TableReader(table: root, path: "", parser: self), text: text)
        withExtendedLifetime(root) {}  // values read from it point into its nodes
        return configuration
    }

    private func build(_ root: TableReader, text: String) throws(ConfigurationError) -> SupervisorConfiguration {
        try root.rejectUnknown(Self.rootKeys)
        let daemon = try daemonSettings(root.table("orderd") ?? root.empty("orderd"))
        let kafka = try kafkaSettings(root.table("kafka") ?? root.empty("kafka"))
        let defaults = try ResolvedPolicy.builtIn.applying(
            policyLayer(root.table("defaults") ?? root.empty("defaults"), allowed: Self.policyKeys), parser: self
        )
        guard let servicesTable = try root.table("services"), !servicesTable.table.isEmpty else {
            throw error("services", "at least one service is required: add a [services.<name>] table")
        }
        var specs: [String: ServiceSpec] = [:]
        for name in servicesTable.table.keys {
            let key = servicesTable.key(name)
            guard let table = try servicesTable.table(name) else {
                throw error(key, "expected a table [\(key)]")
            }
            try Self.validateServiceName(name, key: key, parser: self)
            specs[name] = try service(name: name, table, defaults: defaults, daemon: daemon)
        }
        let fileOrder = ServiceOrder.appearance(ofTablesUnder: "services", in: text)
        let ordered = try ServiceOrder.startOrder(of: specs, fileOrder: fileOrder, parser: self)
        try checkPorts(ordered, fileOrder: fileOrder, daemon: daemon)
        return SupervisorConfiguration(source: source, daemon: daemon, kafka: kafka, services: ordered)
    }

    // MARK: [orderd]

    private func daemonSettings(_ table: TableReader) throws(ConfigurationError) -> DaemonSettings {
        try table.rejectUnknown(Self.daemonKeys)
        let socketPath = try table.nonEmptyString("socket_path") ?? ConfigurationDefaults.socketPath(environment: environment)
        if socketPath.utf8.count > 107 {
            throw error(
                table.key("socket_path"),
                "\"\(socketPath)\" is \(socketPath.utf8.count) bytes; a Unix socket path may have at most 107"
                    + (table.has("socket_path") ? "" : " (it is the default from the environment; set orderd.socket_path)")
            )
        }
        let socketGroup = try table.nonEmptyString("socket_group")
        if let socketGroup, !Self.isGroupName(socketGroup) {
            throw error(table.key("socket_group"), "\"\(socketGroup)\" is not a valid group name or number")
        }
        let binaryDirectory: String
        let currentDirectory = FileManager.default.currentDirectoryPath
        if let configured = try table.nonEmptyString("binary_directory") {
            binaryDirectory = ConfigurationPath.absolute(configured, relativeTo: currentDirectory)
        } else if let variable = environment[ConfigurationDefaults.binaryDirectoryVariable], !variable.isEmpty {
            binaryDirectory = ConfigurationPath.absolute(variable, relativeTo: currentDirectory)
        } else {
            let directory = executableDirectory ?? ConfigurationDefaults.runningExecutableDirectory()
            binaryDirectory = ConfigurationPath.absolute(directory, relativeTo: currentDirectory)
        }
        var logLevel = ConfigurationDefaults.logLevel
        if let level = try table.nonEmptyString("log_level") {
            guard let parsed = Logger.Level(rawValue: level) else {
                throw error(
                    table.key("log_level"),
                    "\"\(level)\" is not a log level; use one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            logLevel = parsed
        }
        return DaemonSettings(
            socketPath: socketPath,
            socketGroup: socketGroup,
            metricsHost: try table.nonEmptyString("metrics_host") ?? ConfigurationDefaults.metricsHost,
            metricsPort: try table.port("metrics_port") ?? ConfigurationDefaults.metricsPort,
            scrapeTimeout: try table.duration("scrape_timeout") ?? ConfigurationDefaults.scrapeTimeout,
            stopTimeout: try table.duration("stop_timeout") ?? ConfigurationDefaults.stopTimeout,
            dataDirectory: try table.nonEmptyString("data_directory") ?? ConfigurationDefaults.dataDirectory,
            binaryDirectory: binaryDirectory,
            logLevel: logLevel
        )
    }

    /// A group name (`[A-Za-z_][A-Za-z0-9_.-]*`, optionally ending in `$`) or a numeric gid.
    static func isGroupName(_ name: String) -> Bool {
        let scalars = Array(name.hasSuffix("$") ? name.unicodeScalars.dropLast() : name.unicodeScalars[...])
        guard let first = scalars.first, name.utf8.count <= 32 else { return false }
        if scalars.allSatisfy(ConfigurationNames.isDigit) { return true }
        guard first == "_" || ConfigurationNames.isLetter(first) else { return false }
        return scalars.allSatisfy { ConfigurationNames.isAlphanumeric($0) || "_.-".unicodeScalars.contains($0) }
    }

    // MARK: [kafka]

    private func kafkaSettings(_ table: TableReader) throws(ConfigurationError) -> KafkaSettings {
        try table.rejectUnknown(Self.kafkaKeys)
        var brokers: String?
        if let value = table.value("brokers") {
            if let list = value.string {
                brokers = DurationText.trimmed(list)
            } else if let array = value.array {
                var entries: [String] = []
                for (index, element) in array.enumerated() {
                    guard let entry = element.string else {
                        throw error(table.key("brokers") + "[\(index)]", "expected a string \"host:port\", found \(element.type)")
                    }
                    entries.append(DurationText.trimmed(entry))
                }
                brokers = entries.joined(separator: ",")
            } else {
                throw error(table.key("brokers"), "expected a string \"host:port,…\" or an array of them, found \(value.type)")
            }
            if brokers?.isEmpty == true || brokers?.split(separator: ",").contains(where: { DurationText.trimmed(String($0)).isEmpty }) == true {
                throw error(table.key("brokers"), "must list at least one \"host:port\" with no empty entries; leave it out to run the embedded broker")
            }
        } else if let variable = environment[ConfigurationDefaults.brokersVariable], !DurationText.trimmed(variable).isEmpty {
            brokers = DurationText.trimmed(variable)
        }
        let partitions = try table.int("embedded_partitions", in: 1...10_000) ?? ConfigurationDefaults.embeddedPartitions
        var properties: [String: String] = [:]
        if let propertyTable = try table.table("properties") {
            try collectProperties(propertyTable, prefix: "", into: &properties)
        }
        var variables: [String: String] = [:]
        for name in properties.keys.sorted() {
            let variable = KafkaSettings.environmentVariable(forProperty: name)
            if let other = variables[variable] {
                throw error(
                    TableReader.dotted("kafka.properties", name),
                    "maps to the same environment variable \(variable) as \"\(other)\""
                )
            }
            variables[variable] = name
        }
        return KafkaSettings(brokers: brokers, embeddedPartitions: partitions, properties: properties)
    }

    /// `[kafka.properties]` accepts `"security.protocol" = "SASL_SSL"` and the dotted-key form
    /// `security.protocol = "SASL_SSL"` (which TOML nests); both give `security.protocol`.
    private func collectProperties(
        _ table: TableReader, prefix: String, into properties: inout [String: String]
    ) throws(ConfigurationError) {
        for key in table.table.keys {
            let name = prefix.isEmpty ? key : prefix + "." + key
            let dottedKey = TableReader.dotted("kafka.properties", name)
            if let nested = try? table.table(key) {
                try collectProperties(nested, prefix: name, into: &properties)
                continue
            }
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({
                ConfigurationNames.isAlphanumeric($0) || "._-".unicodeScalars.contains($0)
            }) else {
                throw error(dottedKey, "is not a librdkafka property name (letters, digits, '.', '_', '-')")
            }
            if Self.brokerProperties.contains(name.lowercased()) {
                throw error(dottedKey, "set kafka.brokers instead")
            }
            guard let value = table.value(key), let text = TableReader.scalarText(value) else {
                throw error(dottedKey, "expected a string, integer or boolean, found \(table.value(key)?.type.description ?? "nothing")")
            }
            properties[name] = text
        }
    }

    // MARK: [defaults] and [services.<name>]

    func policyLayer(_ table: TableReader, allowed: [String]) throws(ConfigurationError) -> PolicyLayer {
        try table.rejectUnknown(allowed)
        var layer = PolicyLayer()
        if let text = try table.nonEmptyString("restart") {
            guard let policy = RestartPolicy(rawValue: text) else {
                throw error(
                    table.key("restart"),
                    "\"\(text)\" is not a restart policy; use one of \(RestartPolicy.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            layer.restart = Sourced(policy, table.key("restart"))
        }
        layer.backoffInitial = try table.sourcedDuration("backoff_initial")
        layer.backoffMaximum = try table.sourcedDuration("backoff_max")
        layer.backoffResetAfter = try table.sourcedDuration("backoff_reset_after")
        if let burst = try table.int("start_limit_burst", in: 1...1_000_000) {
            layer.startLimitBurst = Sourced(burst, table.key("start_limit_burst"))
        }
        layer.startLimitInterval = try table.sourcedDuration("start_limit_interval")
        layer.stopTimeout = try table.sourcedDuration("stop_timeout")
        if let probes = try table.table("probes") {
            try probes.rejectUnknown(Self.probeKeys)
            layer.startupBudget = try probes.sourcedDuration("startup_budget")
            layer.probeInterval = try probes.sourcedDuration("interval")
            layer.probeTimeout = try probes.sourcedDuration("timeout")
            if let threshold = try probes.int("liveness_failure_threshold", in: 1...1_000_000) {
                layer.livenessFailureThreshold = Sourced(threshold, probes.key("liveness_failure_threshold"))
            }
            if let threshold = try probes.int("readiness_failure_threshold", in: 1...1_000_000) {
                layer.readinessFailureThreshold = Sourced(threshold, probes.key("readiness_failure_threshold"))
            }
        }
        return layer
    }

    static func validateServiceName(_ name: String, key: String, parser: ConfigurationParser) throws(ConfigurationError) {
        let valid = !name.isEmpty && name.utf8.count <= 64 && name.unicodeScalars.allSatisfy {
            ConfigurationNames.isAlphanumeric($0) || "_-".unicodeScalars.contains($0)
        }
        if !valid {
            throw parser.error(key, "a service name is 1–64 of letters, digits, '_' and '-'")
        }
    }

    private func service(
        name: String, _ table: TableReader, defaults: ResolvedPolicy, daemon: DaemonSettings
    ) throws(ConfigurationError) -> ServiceSpec {
        try table.rejectUnknown(Self.serviceKeys)
        let policy = try defaults.applying(policyLayer(table, allowed: Self.serviceKeys), parser: self)
        if policy.stopTimeout.value > daemon.stopTimeout {
            let message = "\(DurationText.format(policy.stopTimeout.value)) is longer than orderd.stop_timeout (\(DurationText.format(daemon.stopTimeout))), the budget for stopping every service"
            throw error(policy.stopTimeout.origin ?? "orderd.stop_timeout", policy.stopTimeout.origin == nil
                ? "\(DurationText.format(daemon.stopTimeout)) is shorter than the stop timeout of services.\(name) (\(DurationText.format(policy.stopTimeout.value)))"
                : message)
        }

        let executableText = try table.nonEmptyString("executable") ?? name
        let executable = ConfigurationPath.absolute(executableText, relativeTo: daemon.binaryDirectory)

        var arguments: [String] = []
        if let value = table.value("arguments") {
            guard let array = value.array else {
                throw error(table.key("arguments"), "expected an array of strings, found \(value.type)")
            }
            for (index, element) in array.enumerated() {
                guard let argument = element.string else {
                    throw error(table.key("arguments") + "[\(index)]", "expected a string, found \(element.type)")
                }
                arguments.append(argument)
            }
        }

        guard table.has("metrics_port") else {
            throw error(table.key("metrics_port"), "is required: the port of the service's /metrics, /health and /ready (1–65535)")
        }
        let metricsPort = try table.port("metrics_port") ?? 0

        var variables: [String: String] = [:]
        if let environmentTable = try table.table("environment") {
            for variable in environmentTable.table.keys {
                let key = environmentTable.key(variable)
                guard Self.isEnvironmentName(variable) else {
                    throw error(key, "is not a valid environment variable name (letters, digits and '_', not starting with a digit)")
                }
                guard let value = environmentTable.value(variable), let text = TableReader.scalarText(value) else {
                    throw error(key, "expected a string, integer or boolean, found \(environmentTable.value(variable)?.type.description ?? "nothing")")
                }
                variables[variable] = text
            }
        }
        if let exported = variables["METRICS_PORT"], exported != String(metricsPort) {
            throw error(
                table.key("environment") + ".METRICS_PORT",
                "\"\(exported)\" differs from metrics_port (\(metricsPort)), which orderd probes and scrapes; remove it or make them equal"
            )
        }

        var after: [String] = []
        if let value = table.value("after") {
            guard let array = value.array else {
                throw error(table.key("after"), "expected an array of service names, found \(value.type)")
            }
            for (index, element) in array.enumerated() {
                guard let dependency = element.string, !dependency.isEmpty else {
                    throw error(table.key("after") + "[\(index)]", "expected a service name, found \(element.type)")
                }
                if dependency == name {
                    throw error(table.key("after"), "dependency cycle: \(name) -> \(name) (a service cannot start after itself)")
                }
                if !after.contains(dependency) { after.append(dependency) }
            }
        }

        return ServiceSpec(
            name: name,
            executable: executable,
            arguments: arguments,
            workingDirectory: try table.nonEmptyString("working_directory") ?? ConfigurationDefaults.workingDirectory,
            environment: variables,
            metricsPort: metricsPort,
            after: after,
            restart: policy.restart.value,
            backoff: BackoffPolicy(
                initial: policy.backoffInitial.value,
                maximum: policy.backoffMaximum.value,
                resetAfter: policy.backoffResetAfter.value
            ),
            startLimit: StartLimit(burst: policy.startLimitBurst.value, interval: policy.startLimitInterval.value),
            stopTimeout: policy.stopTimeout.value,
            probes: ProbeSettings(
                startupBudget: policy.startupBudget.value,
                interval: policy.probeInterval.value,
                timeout: policy.probeTimeout.value,
                livenessFailureThreshold: policy.livenessFailureThreshold.value,
                readinessFailureThreshold: policy.readinessFailureThreshold.value
            )
        )
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !ConfigurationNames.isDigit(first) else { return false }
        return name.unicodeScalars.allSatisfy { ConfigurationNames.isAlphanumeric($0) || $0 == "_" }
    }

    /// Metrics ports must differ from each other and from orderd's own.
    private func checkPorts(_ services: [ServiceSpec], fileOrder: [String], daemon: DaemonSettings) throws(ConfigurationError) {
        var owners: [Int: String] = [daemon.metricsPort: "orderd.metrics_port"]
        let rank = Dictionary(uniqueKeysWithValues: fileOrder.enumerated().map { ($1, $0) })
        let inFileOrder = services.enumerated().sorted {
            (rank[$0.element.name] ?? Int.max, $0.offset) < (rank[$1.element.name] ?? Int.max, $1.offset)
        }.map(\.element)
        for service in inFileOrder {
            let key = "services.\(service.name).metrics_port"
            if let owner = owners[service.metricsPort] {
                throw error(key, "port \(service.metricsPort) is already used by \(owner)")
            }
            owners[service.metricsPort] = key
        }
    }
}

// MARK: - Reading tables

/// One TOML table with its dotted path, for typed reads that name the key on error.
struct TableReader {
    let table: TOMLTable
    /// Dotted path of this table, "" for the document.
    let path: String
    let parser: ConfigurationParser

    static func dotted(_ path: String, _ key: String) -> String {
        let component = ConfigurationNames.isBareKey(key) ? key : "\"" + key.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        return path.isEmpty ? component : path + "." + component
    }

    func key(_ name: String) -> String { Self.dotted(path, name) }

    func empty(_ name: String) -> TableReader {
        TableReader(table: TOMLTable(), path: key(name), parser: parser)
    }

    func has(_ name: String) -> Bool { table[name] != nil }

    func value(_ name: String) -> TOMLValueConvertible? { table[name] }

    func rejectUnknown(_ allowed: [String]) throws(ConfigurationError) {
        for name in table.keys where !allowed.contains(name) {
            var message = "unknown key"
            if let suggestion = Self.closest(to: name, among: allowed) {
                message += "; did you mean \(suggestion)?"
            } else {
                message += "; expected one of \(allowed.joined(separator: ", "))"
            }
            throw parser.error(key(name), message)
        }
    }

    func table(_ name: String) throws(ConfigurationError) -> TableReader? {
        guard let value = value(name) else { return nil }
        guard let nested = value.table else {
            throw parser.error(key(name), "expected a table, found \(value.type)")
        }
        return TableReader(table: nested, path: key(name), parser: parser)
    }

    func nonEmptyString(_ name: String) throws(ConfigurationError) -> String? {
        guard let value = value(name) else { return nil }
        guard let text = value.string else {
            throw parser.error(key(name), "expected a string, found \(value.type)")
        }
        guard !DurationText.trimmed(text).isEmpty else {
            throw parser.error(key(name), "must not be empty")
        }
        return text
    }

    func int(_ name: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        guard let value = value(name) else { return nil }
        guard let number = value.int else {
            throw parser.error(key(name), "expected an integer, found \(value.type)")
        }
        guard range.contains(number) else {
            throw parser.error(key(name), "\(number) is out of range; expected \(range.lowerBound)–\(range.upperBound)")
        }
        return number
    }

    func port(_ name: String) throws(ConfigurationError) -> Int? {
        try int(name, in: 1...65535)
    }

    /// A positive duration: `"100ms"`, `"2s"`, `"1m"`, `"1h"`, or an integer number of seconds.
    func duration(_ name: String) throws(ConfigurationError) -> Duration? {
        guard let value = value(name) else { return nil }
        let duration: Duration
        if let seconds = value.int {
            guard seconds > 0 else {
                throw parser.error(key(name), "\(seconds) must be a positive duration (an integer means seconds)")
            }
            guard seconds <= Int(Int64.max / 1_000_000_000) else {
                throw parser.error(key(name), "\(seconds) seconds is too long")
            }
            duration = .seconds(seconds)
        } else if let text = value.string {
            guard let parsed = DurationText.parse(text) else {
                throw parser.error(
                    key(name),
                    "\"\(text)\" is not a duration; write a positive number with a unit, like \"100ms\", \"2s\", \"1m\" or \"1h\" (or an integer number of seconds)"
                )
            }
            duration = parsed
        } else {
            throw parser.error(key(name), "expected a duration like \"2s\" or an integer number of seconds, found \(value.type)")
        }
        guard duration > .zero else {
            throw parser.error(key(name), "must be longer than zero")
        }
        return duration
    }

    func sourcedDuration(_ name: String) throws(ConfigurationError) -> Sourced<Duration>? {
        try duration(name).map { Sourced($0, key(name)) }
    }

    /// Strings as they are; integers and booleans as their TOML text (environment variables
    /// and librdkafka properties are text).
    static func scalarText(_ value: TOMLValueConvertible) -> String? {
        if let text = value.string { return text }
        if let number = value.int { return String(number) }
        if let flag = value.bool { return flag ? "true" : "false" }
        return nil
    }

    /// The allowed key closest to a typo (edit distance ≤ 2, or one is a prefix of the other).
    static func closest(to name: String, among allowed: [String]) -> String? {
        let scored = allowed.map { ($0, editDistance(name.lowercased(), $0)) }.sorted { $0.1 < $1.1 }
        guard let best = scored.first, best.1 <= max(2, name.count / 4) else { return nil }
        return best.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

// MARK: - Layered per-service policy

/// A value and the dotted key it came from (nil: built-in default).
struct Sourced<Value: Sendable>: Sendable {
    var value: Value
    var origin: String?
    init(_ value: Value, _ origin: String?) {
        self.value = value
        self.origin = origin
    }
}

/// What one `[defaults]` or `[services.<name>]` table sets.
struct PolicyLayer {
    var restart: Sourced<RestartPolicy>?
    var backoffInitial: Sourced<Duration>?
    var backoffMaximum: Sourced<Duration>?
    var backoffResetAfter: Sourced<Duration>?
    var startLimitBurst: Sourced<Int>?
    var startLimitInterval: Sourced<Duration>?
    var stopTimeout: Sourced<Duration>?
    var startupBudget: Sourced<Duration>?
    var probeInterval: Sourced<Duration>?
    var probeTimeout: Sourced<Duration>?
    var livenessFailureThreshold: Sourced<Int>?
    var readinessFailureThreshold: Sourced<Int>?
}

/// Built-in defaults, overridden by `[defaults]`, overridden by the service's own keys.
struct ResolvedPolicy: Sendable {
    var restart: Sourced<RestartPolicy>
    var backoffInitial: Sourced<Duration>
    var backoffMaximum: Sourced<Duration>
    var backoffResetAfter: Sourced<Duration>
    var startLimitBurst: Sourced<Int>
    var startLimitInterval: Sourced<Duration>
    var stopTimeout: Sourced<Duration>
    var startupBudget: Sourced<Duration>
    var probeInterval: Sourced<Duration>
    var probeTimeout: Sourced<Duration>
    var livenessFailureThreshold: Sourced<Int>
    var readinessFailureThreshold: Sourced<Int>

    static let builtIn = ResolvedPolicy(
        restart: Sourced(ConfigurationDefaults.restart, nil),
        backoffInitial: Sourced(ConfigurationDefaults.backoff.initial, nil),
        backoffMaximum: Sourced(ConfigurationDefaults.backoff.maximum, nil),
        backoffResetAfter: Sourced(ConfigurationDefaults.backoff.resetAfter, nil),
        startLimitBurst: Sourced(ConfigurationDefaults.startLimit.burst, nil),
        startLimitInterval: Sourced(ConfigurationDefaults.startLimit.interval, nil),
        stopTimeout: Sourced(ConfigurationDefaults.serviceStopTimeout, nil),
        startupBudget: Sourced(ConfigurationDefaults.probes.startupBudget, nil),
        probeInterval: Sourced(ConfigurationDefaults.probes.interval, nil),
        probeTimeout: Sourced(ConfigurationDefaults.probes.timeout, nil),
        livenessFailureThreshold: Sourced(ConfigurationDefaults.probes.livenessFailureThreshold, nil),
        readinessFailureThreshold: Sourced(ConfigurationDefaults.probes.readinessFailureThreshold, nil)
    )

    func applying(_ layer: PolicyLayer, parser: ConfigurationParser) throws(ConfigurationError) -> ResolvedPolicy {
        var result = self
        if let value = layer.restart { result.restart = value }
        if let value = layer.backoffInitial { result.backoffInitial = value }
        if let value = layer.backoffMaximum { result.backoffMaximum = value }
        if let value = layer.backoffResetAfter { result.backoffResetAfter = value }
        if let value = layer.startLimitBurst { result.startLimitBurst = value }
        if let value = layer.startLimitInterval { result.startLimitInterval = value }
        if let value = layer.stopTimeout { result.stopTimeout = value }
        if let value = layer.startupBudget { result.startupBudget = value }
        if let value = layer.probeInterval { result.probeInterval = value }
        if let value = layer.probeTimeout { result.probeTimeout = value }
        if let value = layer.livenessFailureThreshold { result.livenessFailureThreshold = value }
        if let value = layer.readinessFailureThreshold { result.readinessFailureThreshold = value }
        if result.backoffInitial.value > result.backoffMaximum.value {
            let key = layer.backoffMaximum?.origin ?? layer.backoffInitial?.origin
                ?? result.backoffMaximum.origin ?? result.backoffInitial.origin ?? "backoff_max"
            throw parser.error(
                key,
                "backoff_initial (\(DurationText.format(result.backoffInitial.value))) is longer than backoff_max (\(DurationText.format(result.backoffMaximum.value)))"
            )
        }
        return result
    }
}

/// ASCII character classes for names in the configuration.
enum ConfigurationNames {
    static func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool { ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) }
    static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool { isDigit(scalar) || isLetter(scalar) }
    /// A TOML bare key: letters, digits, `_` and `-`.
    static func isBareKey(_ key: String) -> Bool {
        !key.isEmpty && key.unicodeScalars.allSatisfy { isAlphanumeric($0) || $0 == "_" || $0 == "-" }
    }
}
