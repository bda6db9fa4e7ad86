import Logging
import TOMLKit

/// The configuration file as `TOMLDecoder` reads it: every key optional, every value already
/// of its type (see ``ConfigurationValue``). ``resolve(source:environment:executableDirectory:)``
/// applies the defaults and the checks that span keys.
struct ConfigurationFile: ConfigurationTable {
    enum CodingKeys: String, CodingKey, CaseIterable { case orderd, kafka, defaults, services }
    static let keys = CodingKeys.allCases.map(\.rawValue)
    var orderd: DaemonTable?
    var kafka: KafkaTable?
    var defaults: PolicyTable?
    var services: Entries<ServiceTable>?

    /// Parses `text`; a TOML syntax error names the line, any other error the dotted key.
    static func decode(_ text: String) throws(ConfigurationError) -> ConfigurationFile {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch {
            let position = (error as? TOMLParseError)?.source.begin
            throw ConfigurationError(
                key: "",
                message: "invalid TOML at line \(position?.line ?? 0), column \(position?.column ?? 0): \(error)",
                line: position?.line
            )
        }
        do {
            try rejectUnknown(root.keys, at: [])
            return try TOMLDecoder().decode(ConfigurationFile.self, from: root)
        } catch let error as ConfigurationError {
            throw error
        } catch DecodingError.typeMismatch(let type, let context) {
            // Find what the file has there: TOMLKit's errors name only the Swift type.
            var value: TOMLValueConvertible? = root
            for key in context.codingPath {
                value = key.intValue.flatMap { value?.array?[$0] } ?? value?.table?[key.stringValue]
            }
            let expected = (type as? any ConfigurationValue.Type)?.expected ?? "another type"
            let found = value?.type.description ?? "nothing"
            throw ConfigurationError(dotted(context.codingPath), "expected \(expected), found \(found)")
        } catch {
            throw ConfigurationError("", "cannot decode the configuration: \(error)")
        }
    }
}

/// `[orderd]`
struct DaemonTable: ConfigurationTable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case socketPath = "socket_path", socketGroup = "socket_group", metricsHost = "metrics_host"
        case metricsPort = "metrics_port", scrapeTimeout = "scrape_timeout", stopTimeout = "stop_timeout"
        case dataDirectory = "data_directory", binaryDirectory = "binary_directory", logLevel = "log_level"
    }
    static let keys = CodingKeys.allCases.map(\.rawValue)
    var socketPath, socketGroup, metricsHost: Text?
    var metricsPort: Bounded<PortRange>?
    var scrapeTimeout, stopTimeout: DurationText?
    var dataDirectory, binaryDirectory: Text?
    var logLevel: Choice<Logger.Level>?
}

/// `[kafka]`
struct KafkaTable: ConfigurationTable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case brokers, embeddedPartitions = "embedded_partitions", properties
    }
    static let keys = CodingKeys.allCases.map(\.rawValue)
    var brokers: Brokers?
    var embeddedPartitions: Bounded<PartitionRange>?
    var properties: Entries<PropertyValue>?
}

/// `[defaults]`, and the same keys in `[services.<name>]`: what overrides ``SupervisionPolicy``'s defaults.
struct PolicyTable: ConfigurationTable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case restart, backoffInitial = "backoff_initial", backoffMaximum = "backoff_max"
        case backoffResetAfter = "backoff_reset_after", startLimitBurst = "start_limit_burst"
        case startLimitInterval = "start_limit_interval", stopTimeout = "stop_timeout", probes
    }
    static let keys = CodingKeys.allCases.map(\.rawValue)
    var restart: Choice<RestartPolicy>?
    var backoffInitial, backoffMaximum, backoffResetAfter: DurationText?
    var startLimitBurst: Bounded<CountRange>?
    var startLimitInterval, stopTimeout: DurationText?
    var probes: ProbeTable?
}

/// `[defaults.probes]`, `[services.<name>.probes]`
struct ProbeTable: ConfigurationTable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case startupBudget = "startup_budget", interval, timeout
        case livenessFailureThreshold = "liveness_failure_threshold"
        case readinessFailureThreshold = "readiness_failure_threshold"
    }
    static let keys = CodingKeys.allCases.map(\.rawValue)
    var startupBudget, interval, timeout: DurationText?
    var livenessFailureThreshold, readinessFailureThreshold: Bounded<CountRange>?
}

/// `[services.<name>]`: its own keys plus those of ``PolicyTable``.
struct ServiceTable: ConfigurationTable {
    struct Own: Decodable {
        enum CodingKeys: String, CodingKey, CaseIterable {
            case executable, arguments, workingDirectory = "working_directory", environment
            case metricsPort = "metrics_port", after, priority
        }
        var executable, workingDirectory: Text?
        var arguments: List<String>?
        var environment: Entries<Scalar>?
        var metricsPort: Bounded<PortRange>?
        var after: List<ServiceName>?
        var priority: Bounded<PriorityRange>?
    }
    static var keys: [String] { Own.CodingKeys.allCases.map(\.rawValue) + PolicyTable.keys }
    var own: Own
    var policy: PolicyTable

    init(from decoder: any Decoder) throws {
        own = try Own(from: decoder)
        policy = try PolicyTable(from: decoder)
    }
}

/// A `[kafka.properties]` value; a dotted key (`linger.ms = 5`) nests a table.
indirect enum PropertyValue: ConfigurationValue {
    case value(Scalar)
    case table(Entries<PropertyValue>)
    static let expected = Scalar.expected

    init(from decoder: any Decoder) throws {
        if (try? decoder.container(keyedBy: AnyKey.self)) != nil {
            self = .table(try Entries(from: decoder))
        } else {
            self = .value(try Scalar(from: decoder))
        }
    }
}

// MARK: - Strict tables

/// A table of the file: a key that ``keys`` does not list is an error, with a suggestion.
protocol ConfigurationTable: ConfigurationValue {
    static var keys: [String] { get }
}

extension ConfigurationTable {
    static var expected: String { "a table" }
}

extension ConfigurationTable {
    static func rejectUnknown(_ present: [String], at path: [any CodingKey]) throws(ConfigurationError) {
        for name in present where !keys.contains(name) {
            let distance = { (key: String) in editDistance(name.lowercased(), key) }
            let best = keys.min { distance($0) < distance($1) }
            let hint = best.flatMap { distance($0) <= max(2, name.count / 4) ? "did you mean \($0)?" : nil }
            throw ConfigurationError(
                key: dotted(path + [AnyKey(name)]),
                message: "unknown key; " + (hint ?? "expected one of \(keys.joined(separator: ", "))")
            )
        }
    }
}

extension KeyedDecodingContainer {
    /// The synthesized `init(from:)` of every table reads its keys through this overload: a
    /// table is checked for unknown keys before it is decoded, and a value of the wrong TOML
    /// type is reported as the ``ConfigurationValue`` that was expected.
    func decodeIfPresent<T: ConfigurationValue>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard contains(key) else { return nil }
        if let table = T.self as? any ConfigurationTable.Type,
            let nested = try? nestedContainer(keyedBy: AnyKey.self, forKey: key) {
            try table.rejectUnknown(nested.allKeys.map(\.stringValue), at: nested.codingPath)
        }
        do {
            return try decode(T.self, forKey: key)
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.count == codingPath.count + 1 {
            throw DecodingError.typeMismatch(T.self, context)
        }
    }
}

/// A table whose keys the file names (`[services]`, `environment`, `[kafka.properties]`), in key order.
struct Entries<Value: ConfigurationValue>: ConfigurationValue {
    static var expected: String { "a table" }
    var entries: [(key: String, value: Value)]

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        entries = try container.allKeys.map { ($0.stringValue, try container.decodeIfPresent(Value.self, forKey: $0)!) }
    }
}

/// Any key of a table.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// `services.a.arguments[1]`, quoting components that are not bare TOML keys.
func dotted(_ path: [any CodingKey]) -> String {
    path.reduce(into: "") { result, key in
        if let index = key.intValue { return result += "[\(index)]" }
        if !result.isEmpty { result += "." }
        let name = key.stringValue
        result += ConfigurationNames.isBareKey(name) ? name : SupervisorConfiguration.quote(name)
    }
}

/// The dotted key of `components` (`"services", name, "after"`).
func dotted(_ components: String...) -> String {
    dotted(components.map(AnyKey.init))
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in a.indices {
        var current = [i + 1]
        for j in b.indices {
            current.append(Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (a[i] == b[j] ? 0 : 1)))
        }
        previous = current
    }
    return previous[b.count]
}
