import Foundation
import Logging

/// A value of the configuration file. Decoding it checks it; a value of the wrong TOML type
/// is reported as "expected <``expected``>, found <type>".
protocol ConfigurationValue: Decodable {
    /// What the file should have here: `a string`, `an integer`, ….
    static var expected: String { get }
}

extension Decoder {
    /// The value here, when it is a string, an integer or a boolean.
    func scalar() -> Scalar? {
        guard let container = try? singleValueContainer() else { return nil }
        if let text = try? container.decode(String.self) { return .string(text) }
        if let number = try? container.decode(Int.self) { return .integer(number) }
        return (try? container.decode(Bool.self)).map(Scalar.boolean)
    }

    /// The error for a value of the wrong TOML type.
    func mismatch<T>(_ type: T.Type) -> DecodingError {
        .typeMismatch(type, DecodingError.Context(codingPath: codingPath, debugDescription: ""))
    }

    /// The error for a value of the right type that is not allowed.
    func invalid(_ message: String) -> ConfigurationError {
        ConfigurationError(dotted(codingPath), message)
    }
}

/// A string, integer or boolean, taken as its text (environment variables and librdkafka
/// properties are text).
enum Scalar: ConfigurationValue {
    case string(String), integer(Int), boolean(Bool)
    static let expected = "a string, integer or boolean"

    init(from decoder: any Decoder) throws {
        guard let scalar = decoder.scalar() else { throw decoder.mismatch(Self.self) }
        self = scalar
    }

    var text: String {
        switch self {
        case .string(let text): text
        case .integer(let number): String(number)
        case .boolean(let flag): flag ? "true" : "false"
        }
    }
}

extension String: ConfigurationValue {
    static let expected = "a string"
}

/// A string that is not empty or blank (kept as written).
struct Text: ConfigurationValue {
    static let expected = "a string"
    var value: String

    init(from decoder: any Decoder) throws {
        guard case .string(let text)? = decoder.scalar() else { throw decoder.mismatch(Self.self) }
        guard !text.allSatisfy(\.isWhitespace) else { throw decoder.invalid("must not be empty") }
        value = text
    }
}

/// An entry of `after`.
struct ServiceName: ConfigurationValue {
    static let expected = "a service name"
    var value: String

    init(from decoder: any Decoder) throws {
        value = try Text(from: decoder).value
    }
}

/// A TOML array.
struct List<Element: ConfigurationValue>: ConfigurationValue {
    static var expected: String { "an array of " + (Element.self == ServiceName.self ? "service names" : "strings") }
    var values: [Element]

    init(from decoder: any Decoder) throws {
        values = try [Element](from: decoder)
    }
}

/// `kafka.brokers`: `"host:port,host:port"` or an array of `"host:port"`, as one comma-separated list.
struct Brokers: ConfigurationValue {
    static let expected = "a string \"host:port,…\" or an array of them"
    var value: String

    init(from decoder: any Decoder) throws {
        let entries = try decoder.scalar().map { scalar -> [String] in
            guard case .string(let text) = scalar else { throw decoder.mismatch(Self.self) }
            return text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        } ?? List<String>(from: decoder).values
        let trimmed = entries.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard !trimmed.isEmpty, !trimmed.contains(where: \.isEmpty) else {
            throw decoder.invalid(
                "must list at least one \"host:port\" with no empty entries; leave it out to run the embedded broker"
            )
        }
        value = trimmed.joined(separator: ",")
    }
}

/// The allowed values of an integer key.
protocol IntegerRange { static var range: ClosedRange<Int> { get } }
enum PortRange: IntegerRange { static let range = 1...65535 }
enum PartitionRange: IntegerRange { static let range = 1...10_000 }
enum CountRange: IntegerRange { static let range = 1...1_000_000 }
enum PriorityRange: IntegerRange { static let range = -1_000_000...1_000_000 }

/// An integer within `Range.range`.
struct Bounded<Range: IntegerRange>: ConfigurationValue {
    static var expected: String { "an integer" }
    var value: Int

    init(from decoder: any Decoder) throws {
        guard case .integer(let number)? = decoder.scalar() else { throw decoder.mismatch(Self.self) }
        guard Range.range.contains(number) else {
            let (lower, upper) = (Range.range.lowerBound, Range.range.upperBound)
            throw decoder.invalid("\(number) is out of range; expected \(lower)–\(upper)")
        }
        value = number
    }
}

/// A string naming one of the cases of `Option`.
protocol ConfigurationChoice: CaseIterable, RawRepresentable<String> {
    /// What the value is, for "is not a <noun>".
    static var noun: String { get }
}

extension RestartPolicy: ConfigurationChoice { static let noun = "restart policy" }
extension Logger.Level: ConfigurationChoice { static let noun = "log level" }

/// One of the cases of `Option`, by its raw value.
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
}
