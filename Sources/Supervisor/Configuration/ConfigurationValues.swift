import Foundation
import Storage
import Logging

/// A value of the configuration file, checked as it is decoded. One of the wrong TOML type is
/// reported as "expected <``expected``>, found <type>".
protocol ConfigurationValue: Decodable {
    associatedtype Value = Self
    static var expected: String { get }
    var value: Value { get }
    /// `value` as `orderd check-config` writes it.
    static func toml(_ value: Value) -> String
}

extension ConfigurationValue {
    static func toml(_ value: Value) -> String { SupervisorConfiguration.quote("\(value)") }
}

extension ConfigurationValue where Value == Self {
    var value: Self { self }
}

extension Decoder {
    /// The error for a value (or its entry `name`) of the right type that is not allowed.
    func invalid(_ message: String, at name: String? = nil) -> ConfigurationError {
        ConfigurationError(dotted(codingPath + (name.map { [AnyKey($0)] } ?? [])), message)
    }
}

extension String: ConfigurationValue { static let expected = "a string" }

extension Int: ConfigurationValue {
    static let expected = "an integer"
    static func toml(_ value: Int) -> String { "\(value)" }
}

/// The check of an integer key: what is wrong with a value outside `range`.
func within(_ range: ClosedRange<Int>) -> (Int) -> String? {
    { range.contains($0) ? nil : "\($0) is out of range; expected \(range.lowerBound)–\(range.upperBound)" }
}

extension Array: ConfigurationValue where Element: ConfigurationValue {
    static var expected: String { "an array of " + (Element.self == Text.self ? "service names" : "strings") }
    var value: [Element.Value] { map(\.value) }
    static func toml(_ value: [Element.Value]) -> String {
        "[" + value.map { SupervisorConfiguration.quote("\($0)") }.joined(separator: ", ") + "]"
    }
}

/// A string that is not empty or blank (kept as written).
struct Text: ConfigurationValue {
    static let expected = "a string"
    var value: String

    init(from decoder: any Decoder) throws {
        value = try String(from: decoder)
        guard !value.allSatisfy(\.isWhitespace) else { throw decoder.invalid("must not be empty") }
    }
}

/// A string, integer or boolean, as its text (environment variables and librdkafka properties are text).
struct Scalar: ConfigurationValue {
    static let expected = "a string, integer or boolean"
    var value: String

    init(from decoder: any Decoder) throws {
        value =
            try (try? String(from: decoder)) ?? (try? Int(from: decoder)).map(String.init)
            ?? String(Bool(from: decoder))
    }
}

/// One of the cases of an enumeration, by raw value.
protocol ConfigurationChoice: CaseIterable, RawRepresentable<String> {
    /// What the value is, for "is not a <noun>".
    static var noun: String { get }
}

extension RestartPolicy: ConfigurationChoice { static let noun = "restart policy" }
extension Logger.Level: ConfigurationChoice { static let noun = "log level" }

struct Choice<Option: ConfigurationChoice>: ConfigurationValue {
    static var expected: String { "a string" }
    var value: Option

    init(from decoder: any Decoder) throws {
        let text = try Text(from: decoder).value
        guard let option = Option(rawValue: text) else {
            let options = Option.allCases.map(\.rawValue).joined(separator: ", ")
            throw decoder.invalid("\"\(text)\" is not a \(Option.noun); use one of \(options)")
        }
        value = option
    }

    static func toml(_ value: Option) -> String { SupervisorConfiguration.quote(value.rawValue) }
}

/// `kafka.brokers`: `"host:port,host:port"` or an array of `"host:port"`, as one comma-separated list.
struct Brokers: ConfigurationValue {
    static let expected = "a string \"host:port,…\" or an array of them"
    var value: String

    init(from decoder: any Decoder) throws {
        let list = try (try? String(from: decoder)).map { $0.components(separatedBy: ",") } ?? [String](from: decoder)
        let entries = list.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard !entries.isEmpty, !entries.contains(where: \.isEmpty) else {
            throw decoder.invalid(
                "must list at least one \"host:port\" with no empty entries; leave it out to run the embedded broker"
            )
        }
        value = entries.joined(separator: ",")
    }
}

/// A PostgreSQL URL, `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]`; an error
/// never repeats the password.
struct PostgreSQLURL: ConfigurationValue {
    static let expected = "a string postgres://…"
    var value: DatabaseURL

    init(from decoder: any Decoder) throws {
        do {
            value = try DatabaseURL(try String(from: decoder))
        } catch let error as DatabaseURL.Invalid {
            throw decoder.invalid(error.description)
        }
    }
}

/// A table whose keys the file names (`[services]`, `environment`), in key order.
struct Entries<Element: ConfigurationValue>: ConfigurationValue {
    static var expected: String { "a table" }
    var value: [(key: String, value: Element.Value)]

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        value = try container.allKeys.map { ($0.stringValue, try container.value(Element.self, at: $0)) }
    }
}

/// `[services.<name>.environment]`: names of letters, digits and `_`, not starting with a digit.
struct Environment: ConfigurationValue {
    static let expected = "a table"
    var value: [String: String] = [:]

    init(from decoder: any Decoder) throws {
        for (name, text) in try Entries<Scalar>(from: decoder).value {
            guard name.wholeMatch(of: /[A-Za-z_][A-Za-z0-9_]*/) != nil else {
                let rule = "(letters, digits and '_', not starting with a digit)"
                throw decoder.invalid("is not a valid environment variable name \(rule)", at: name)
            }
            value[name] = text
        }
    }
}

/// `[kafka.properties]` by librdkafka name (`linger.ms = 5`, which TOML nests, is `linger.ms`).
/// No two map to the same environment variable, and the brokers are not among them.
struct Properties: ConfigurationValue {
    static let expected = "a table"
    var value: [String: String] = [:]

    init(from decoder: any Decoder) throws {
        func flatten(_ table: KeyedDecodingContainer<AnyKey>, _ prefix: String) throws -> [(String, String)] {
            try table.allKeys.flatMap { key in
                guard let nested = try? table.nestedContainer(keyedBy: AnyKey.self, forKey: key) else {
                    return [(prefix + key.stringValue, try table.value(Scalar.self, at: key))]
                }
                return try flatten(nested, prefix + key.stringValue + ".")
            }
        }
        var variables: [String: String] = [:]
        for (name, text) in try flatten(decoder.container(keyedBy: AnyKey.self), "").sorted(by: { $0.0 < $1.0 }) {
            guard name.wholeMatch(of: /[A-Za-z0-9._-]+/) != nil else {
                throw decoder.invalid("is not a librdkafka property name (letters, digits, '.', '_', '-')", at: name)
            }
            if ["bootstrap.servers", "metadata.broker.list"].contains(name.lowercased()) {
                throw decoder.invalid("set kafka.brokers instead", at: name)
            }
            let variable = KafkaSettings.environmentVariable(forProperty: name)
            if let other = variables.updateValue(name, forKey: variable) {
                throw decoder.invalid("maps to the same environment variable \(variable) as \"\(other)\"", at: name)
            }
            value[name] = text
        }
    }
}
