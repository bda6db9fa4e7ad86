import Foundation
import Kafka
import Logging
import OrderEvents

/// Who a service is: its name and the defaults that differ between services. All platform
/// defaults live here and in ``ServiceConfiguration/init(identity:environment:)``.
public struct ServiceIdentity: Sendable {
    public var name: String
    public var metricsPort: Int
    /// The variable naming this service's consumer group, for example `PAYMENT_GROUP_ID`.
    public var groupIdVariable: String
    /// The topics this service consumes.
    public var subscriptions: @Sendable (Topics) -> [String]

    public init(name: String, metricsPort: Int, groupIdVariable: String, subscriptions: @escaping @Sendable (Topics) -> [String]) {
        self.name = name
        self.metricsPort = metricsPort
        self.groupIdVariable = groupIdVariable
        self.subscriptions = subscriptions
    }
}

/// The validated configuration every service shares, built once at start-up from the
/// environment (the original demo's variables plus the platform's).
public struct ServiceConfiguration: Sendable {
    /// The broker the platform uses when `KAFKA_BROKERS` is unset (the original default).
    public static let defaultBrokers = "localhost:9092"

    public var serviceName: String
    public var kafka: KafkaClientConfiguration
    public var groupId: String
    public var topics: Topics
    public var subscriptions: [String]
    public var metricsHost: String
    public var metricsPort: Int
    public var dataDirectory: String
    public var logLevel: Logger.Level
    public var topicPartitions: Int
    public var topicReplicationFactor: Int
    /// The pid of the supervising orderd, when started by it: the service exits with it.
    public var supervisorPid: Int32?
    /// How long sent outbox rows are kept before pruning (`OUTBOX_RETENTION_SECONDS`).
    public var outboxRetention: Duration
    /// How long processed event ids are remembered (`INBOX_RETENTION_SECONDS`); a repeat that
    /// arrives later than this is applied again, so keep it at least as long as the topics'
    /// `retention.ms` (Apache Kafka's default: 7 days).
    public var inboxRetention: Duration

    public init(identity: ServiceIdentity, environment: Environment) throws(ConfigurationError) {
        serviceName = environment.string("SERVICE_NAME", default: identity.name)
        topics = Topics(
            ordersCreated: try environment.topic("ORDER_TOPIC", default: Topics.defaults.ordersCreated),
            paymentsCompleted: try environment.topic("PAYMENT_COMPLETED_TOPIC", default: Topics.defaults.paymentsCompleted),
            paymentsFailed: try environment.topic("PAYMENT_FAILED_TOPIC", default: Topics.defaults.paymentsFailed),
            paymentsRefunded: try environment.topic("PAYMENT_REFUNDED_TOPIC", default: Topics.defaults.paymentsRefunded),
            inventoryReserved: try environment.topic("INVENTORY_RESERVED_TOPIC", default: Topics.defaults.inventoryReserved),
            inventoryRejected: try environment.topic("INVENTORY_REJECTED_TOPIC", default: Topics.defaults.inventoryRejected),
            notificationsSent: try environment.topic("NOTIFICATION_SENT_TOPIC", default: Topics.defaults.notificationsSent)
        )
        subscriptions = identity.subscriptions(topics)
        groupId = environment.string(identity.groupIdVariable, default: identity.name)
        metricsHost = environment.string("METRICS_HOST", default: "0.0.0.0")
        metricsPort = try environment.port("METRICS_PORT", default: identity.metricsPort)
        dataDirectory = environment.string("DATA_DIR", default: "./data/\(identity.name)")
        let level = environment.string("LOG_LEVEL", default: "info").lowercased()
        guard let logLevel = Logger.Level(rawValue: level) else {
            throw ConfigurationError(variable: "LOG_LEVEL", problem: "\"\(level)\" is not one of trace, debug, info, notice, warning, error, critical")
        }
        self.logLevel = logLevel
        topicPartitions = try environment.integer("TOPIC_PARTITIONS", default: 3, in: 1...1000)
        topicReplicationFactor = try environment.integer("TOPIC_REPLICATION_FACTOR", default: -1, in: -1...32)
        outboxRetention = .seconds(try environment.integer(
            "OUTBOX_RETENTION_SECONDS", default: Int(EventStore.defaultOutboxRetention.components.seconds), in: 0...(366 * 86_400)
        ))
        inboxRetention = .seconds(try environment.integer(
            "INBOX_RETENTION_SECONDS", default: Int(EventStore.defaultInboxRetention.components.seconds), in: 86_400...(3660 * 86_400)
        ))
        if let pid = environment.optionalString("ORDERD_PID") {
            guard let value = Int32(pid), value > 1 else {
                throw ConfigurationError(variable: "ORDERD_PID", problem: "\"\(pid)\" is not a process id")
            }
            supervisorPid = value
        }

        let brokers = environment.string("KAFKA_BROKERS", default: Self.defaultBrokers)
        let addresses = brokers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !addresses.isEmpty, addresses.allSatisfy({ !$0.isEmpty && !$0.contains(" ") }) else {
            throw ConfigurationError(variable: "KAFKA_BROKERS", problem: "\"\(brokers)\" is not a comma-separated list of host:port")
        }
        kafka = KafkaClientConfiguration(
            bootstrapServers: addresses.joined(separator: ","),
            clientId: serviceName,
            properties: KafkaClientConfiguration.passThroughProperties(from: environment.values)
        )
        do {
            try kafka.validate()
        } catch {
            if case .invalidProperty(let property, let source, let reason) = error {
                throw ConfigurationError(variable: source, problem: "librdkafka rejects \(property): \(reason)")
            }
            throw ConfigurationError(variable: "KAFKA_*", problem: error.description)
        }
    }

    /// The topics the platform needs, each with its dead-letter topic.
    public var topicSpecifications: [TopicSpecification] {
        topics.allWithDeadLetters.map {
            TopicSpecification(name: $0, partitions: topicPartitions, replicationFactor: topicReplicationFactor)
        }
    }
}
