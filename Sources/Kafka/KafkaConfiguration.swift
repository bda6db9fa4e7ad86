import Foundation

/// One librdkafka property and where its value came from, so an error can name the source.
public struct KafkaProperty: Sendable, Hashable {
    /// The librdkafka property name, for example `security.protocol`.
    public var name: String
    /// Its value; never logged when ``isSensitive``.
    public var value: String
    /// For example `KAFKA_SASL_PASSWORD` or `default`.
    public var source: String

    /// A property; librdkafka checks it when a client is created or ``KafkaClientConfiguration/validate()`` runs.
    public init(name: String, value: String, source: String) {
        self.name = name
        self.value = value
        self.source = source
    }

    /// Whether the value is a secret: never logged, never echoed in errors.
    public var isSensitive: Bool { Self.isSensitive(name) }

    /// Whether a property or environment variable name denotes a secret: it contains password,
    /// secret, jaas, pem, token or key (any case). Errs on the side of hiding.
    public static func isSensitive(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return ["password", "secret", "jaas", "pem", "token", "key", "oauthbearer.config"].contains {
            lowered.contains($0)
        }
    }

    /// `name=value`, with a sensitive value replaced by `[redacted]`.
    public var redacted: String {
        "\(name)=\(isSensitive ? "[redacted]" : value)"
    }
}

/// What every Kafka client is built from: the bootstrap servers plus librdkafka properties.
///
/// Properties are applied in order, so a later one (for example a pass-through from the
/// environment) overrides an earlier default.
public struct KafkaClientConfiguration: Sendable, Hashable {
    /// The initial `host:port` list (`KAFKA_BROKERS`); the rest of the cluster is discovered.
    public var bootstrapServers: String
    /// The client id brokers log and metrics are labelled with (the service name).
    public var clientId: String
    /// How often librdkafka emits statistics (consumer lag, queue depth, RTT) as metrics; nil disables.
    public var statisticsInterval: Duration?
    /// Extra librdkafka properties, applied after the client's own defaults.
    public var properties: [KafkaProperty]

    /// A configuration; nothing is validated or connected until a client is created.
    public init(
        bootstrapServers: String,
        clientId: String,
        statisticsInterval: Duration? = .seconds(5),
        properties: [KafkaProperty] = []
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientId = clientId
        self.statisticsInterval = statisticsInterval
        self.properties = properties
    }

    /// The environment prefix of pass-through properties.
    public static let environmentPrefix = "KAFKA_"

    /// Variables with the prefix that are not librdkafka properties.
    public static let reservedVariables: Set<String> = ["KAFKA_BROKERS"]

    /// Maps `KAFKA_<PROPERTY>` variables to librdkafka properties in upper snake case:
    /// `KAFKA_SECURITY_PROTOCOL=SASL_SSL` becomes `security.protocol=SASL_SSL`. Sorted by name
    /// so start-up is deterministic. `KAFKA_BROKERS` is the bootstrap list, not a property.
    public static func passThroughProperties(from environment: [String: String]) -> [KafkaProperty] {
        environment
            .filter { $0.key.hasPrefix(environmentPrefix) && !reservedVariables.contains($0.key) }
            .map { variable, value in
                let name = variable.dropFirst(environmentPrefix.count).lowercased()
                    .replacingOccurrences(of: "_", with: ".")
                return KafkaProperty(name: name, value: value, source: variable)
            }
            .sorted { $0.name < $1.name }
    }

    /// Checks every property against librdkafka without connecting anywhere.
    /// - Throws: ``KafkaError/invalidProperty(property:source:reason:)`` for the first property
    ///   librdkafka does not know or does not accept.
    public func validate() throws(KafkaError) {
        try RDKafkaConfig.validate(properties)
    }
}
