/// A failure of the Kafka layer. Each case says what happened; `description` says what to do.
public enum KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// librdkafka rejected a configuration property. `source` names where it came from (for
    /// example the environment variable `KAFKA_SECURITY_PROTOCOL`). The value is never included.
    case invalidProperty(property: String, source: String, reason: String)
    /// The client could not be created.
    case clientCreation(reason: String)
    /// A message could not be produced or was not delivered. `transient` errors may succeed later.
    case delivery(code: Int32, reason: String, transient: Bool)
    /// The client has been shut down; no more work is accepted.
    case shutDown
    /// Not sent because an earlier message of the same batch could not be; send it again.
    case skipped
    /// A topic operation failed.
    case topic(name: String, reason: String)
    /// Subscribing, assigning or committing failed.
    case consumer(reason: String)
    /// An embedded (mock) cluster operation failed.
    case embeddedCluster(reason: String)

    /// What happened and, where it helps, what to do; never contains a secret value.
    public var description: String {
        switch self {
        case .invalidProperty(let property, let source, let reason):
            "invalid Kafka property \(property) (from \(source)): \(reason); fix or remove \(source)"
        case .clientCreation(let reason):
            "cannot create Kafka client: \(reason)"
        case .delivery(let code, let reason, let transient):
            "message not delivered (\(code)): \(reason)\(transient ? " — transient, retry later" : "")"
        case .shutDown:
            "the Kafka client is shut down"
        case .skipped:
            "not sent: an earlier message of the batch failed; retry in order"
        case .topic(let name, let reason):
            "topic \(name): \(reason)"
        case .consumer(let reason):
            "consumer: \(reason)"
        case .embeddedCluster(let reason):
            "embedded Kafka cluster: \(reason)"
        }
    }

    /// Whether retrying the same operation later may succeed (broker down, timeouts, queue full).
    public var isTransient: Bool {
        switch self {
        case .delivery(_, _, let transient): transient
        case .skipped: true
        case .shutDown, .invalidProperty, .clientCreation, .topic, .consumer, .embeddedCluster: false
        }
    }
}
