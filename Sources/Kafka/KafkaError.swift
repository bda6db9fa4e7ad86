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

    /// Whether retrying the same operation later may succeed (broker down, timeouts, queue full,
    /// not authorized, unknown topic): true exactly when ``publishFailure`` is
    /// ``PublishFailure/retry``.
    public var isTransient: Bool {
        publishFailure == .retry
    }
}

// MARK: - What a publisher does with a failed message

extension KafkaError {
    /// What a publisher that must never lose a message and must keep the order of its keys (the
    /// outbox relay) does with a message that failed: the one rule for when a message is set
    /// aside.
    public enum PublishFailure: Sendable, Hashable {
        /// Nothing is wrong with the message; the client or the cluster is not ready for it
        /// (broker down, timeout, local queue full, missing ACL, unknown topic, purged, any code
        /// not listed under ``setAside``): send the same message again later, in order.
        case retry
        /// Kafka will never accept this message because of the message itself (see
        /// ``KafkaError/messageRejectionCodes``): retrying cannot help, the message must be set
        /// aside for an operator.
        case setAside
        /// The client cannot go on (shut down, the idempotent producer's fatal error): stop
        /// using it; a new client (a restarted process) sends the message again.
        case stop
    }

    /// librdkafka result codes (`rd_kafka_resp_err_t`, name without `RD_KAFKA_RESP_ERR_`) that
    /// are about the one message alone, so a publisher sets the message aside
    /// (``PublishFailure/setAside``). Every other code of a delivery is retried, except
    /// ``clientFailureCodes``.
    public static let messageRejectionCodes: [Int32: String] = [
        10: "MSG_SIZE_TOO_LARGE",  // larger than message.max.bytes (the client's or the broker's)
        87: "INVALID_RECORD",  // the broker refuses this record (for example a compacted topic without a key)
    ]

    /// librdkafka result codes that mean the client itself cannot go on
    /// (``PublishFailure/stop``).
    public static let clientFailureCodes: [Int32: String] = [
        -150: "_FATAL",  // the idempotent producer's fatal error; rd_kafka_fatal_error() says which
        -197: "_DESTROY",  // the client is being destroyed
    ]

    /// How a publisher handles this error when it is a message's result (see
    /// ``PublishFailure``). A ``delivery(code:reason:transient:)`` is classified by its code; one
    /// marked not transient with a code of neither list is the producer's fatal error (stop).
    public var publishFailure: PublishFailure {
        switch self {
        case .delivery(let code, _, let transient):
            if Self.messageRejectionCodes[code] != nil {
                .setAside
            } else if Self.clientFailureCodes[code] != nil || !transient {
                .stop
            } else {
                .retry
            }
        case .skipped: .retry
        case .shutDown, .invalidProperty, .clientCreation, .topic, .consumer, .embeddedCluster: .stop
        }
    }

    /// Whether a delivery failing with librdkafka result `code` may succeed when sent again.
    static func isTransient(code: Int32) -> Bool {
        messageRejectionCodes[code] == nil && clientFailureCodes[code] == nil
    }
}
