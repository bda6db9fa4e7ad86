/// A configuration value that stops start-up. The message names the variable (or key), what
/// was wrong and what is expected, and never echoes a secret.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var variable: String
    public var problem: String

    public init(variable: String, problem: String) {
        self.variable = variable
        self.problem = problem
    }

    public var description: String { "invalid \(variable): \(problem)" }
}

/// Typed access to environment variables. Every accessor throws a ``ConfigurationError`` that
/// names the variable when a set value cannot be used; an unset or empty variable gets the
/// default.
public struct Environment: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String]) {
        self.values = values
    }

    public func string(_ name: String, default defaultValue: String) -> String {
        guard let value = values[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return defaultValue }
        return value
    }

    public func optionalString(_ name: String) -> String? {
        guard let value = values[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    public func integer(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let text = optionalString(name) else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError(variable: name, problem: "\"\(text)\" is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    public func port(_ name: String, default defaultValue: Int) throws(ConfigurationError) -> Int {
        try integer(name, default: defaultValue, in: 0...65535)
    }

    /// A topic name: 1–249 of `[A-Za-z0-9._-]`, as Kafka requires.
    public func topic(_ name: String, default defaultValue: String) throws(ConfigurationError) -> String {
        let value = string(name, default: defaultValue)
        guard (1...249).contains(value.count), value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
            throw ConfigurationError(variable: name, problem: "\"\(value)\" is not a valid Kafka topic name (1–249 of A-Z a-z 0-9 . _ -)")
        }
        return value
    }
}

import Foundation
