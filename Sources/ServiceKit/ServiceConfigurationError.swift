import Configuration
import Foundation
import Kafka

/// A service configuration value that stops start-up. The message names the environment
/// variable, what was wrong and what is expected, and never echoes a secret.
public struct ServiceConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The environment variable (for example `METRICS_PORT`) whose value was refused.
    public var variable: String
    /// What is wrong with the value and what is expected instead.
    public var problem: String

    /// An error for `variable`; `problem` must not contain a secret value.
    public init(variable: String, problem: String) {
        self.variable = variable
        self.problem = problem
    }

    /// `invalid <variable>: <problem>`.
    public var description: String { "invalid \(variable): \(problem)" }
}

extension ConfigReader {
    /// A reader over process environment variables (`metrics.port` reads `METRICS_PORT`). Values
    /// of variables that look like secrets (``KafkaProperty/isSensitive(_:)``) are marked secret,
    /// so swift-configuration's access reporters redact them.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(
            provider: EnvironmentVariablesProvider(
                environmentVariables: environment,
                secretsSpecifier: .dynamic { name, _ in KafkaProperty.isSensitive(name) }
            )
        )
    }

    /// The environment variable a key is read from: its components upper-cased and joined
    /// with `_` (`payment.group.id` is `PAYMENT_GROUP_ID`), as `EnvironmentVariablesProvider`
    /// encodes lower-case keys.
    public static func variableName(_ key: ConfigKey) -> String {
        key.components.map { $0.uppercased() }.joined(separator: "_")
    }

    /// The key an environment variable is read through (`PAYMENT_GROUP_ID` is `payment.group.id`).
    public static func key(forVariable variable: String) -> ConfigKey {
        ConfigKey(variable.lowercased().split(separator: "_").map(String.init))
    }

    /// The value with surrounding blanks removed; nil when unset, empty or blank, so a blank
    /// variable means "use the default".
    public func trimmedString(forKey key: ConfigKey) -> String? {
        guard let value = string(forKey: key)?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    /// The trimmed value, or `defaultValue` when unset or blank.
    public func trimmedString(forKey key: ConfigKey, default defaultValue: String) -> String {
        trimmedString(forKey: key) ?? defaultValue
    }

    /// A whole number in `range`, or `defaultValue` when unset or blank.
    /// - Throws: ``ServiceConfigurationError`` naming the variable when the value is not a whole
    ///   number in `range`.
    public func integer(
        forKey key: ConfigKey,
        default defaultValue: Int,
        in range: ClosedRange<Int>
    ) throws(ServiceConfigurationError) -> Int {
        guard let text = trimmedString(forKey: key) else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            throw ServiceConfigurationError(
                variable: Self.variableName(key),
                problem: "\"\(text)\" is not a whole number from \(range.lowerBound) to \(range.upperBound)"
            )
        }
        return value
    }

    /// A TCP port, 0–65535 (0: any free port), or `defaultValue` when unset or blank.
    /// - Throws: ``ServiceConfigurationError`` naming the variable for anything else.
    public func port(forKey key: ConfigKey, default defaultValue: Int) throws(ServiceConfigurationError) -> Int {
        try integer(forKey: key, default: defaultValue, in: 0...65535)
    }

    /// A topic name: 1–249 of `[A-Za-z0-9._-]`, as Kafka requires; `defaultValue` when unset or blank.
    /// - Throws: ``ServiceConfigurationError`` naming the variable for any other name.
    public func topic(forKey key: ConfigKey, default defaultValue: String) throws(ServiceConfigurationError) -> String {
        let value = trimmedString(forKey: key, default: defaultValue)
        guard (1...249).contains(value.count),
            value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
        else {
            throw ServiceConfigurationError(
                variable: Self.variableName(key),
                problem: "\"\(value)\" is not a valid Kafka topic name (1–249 of A-Z a-z 0-9 . _ -)"
            )
        }
        return value
    }
}
