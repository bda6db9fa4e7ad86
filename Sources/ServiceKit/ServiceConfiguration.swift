import Configuration
import Foundation
import Kafka
import Logging
import OrderEvents
import Storage

/// Who a service is: its name and the defaults that differ between services. All platform
/// defaults live here and in ``ServiceConfiguration/init(identity:reader:kafkaProperties:)``.
public struct ServiceIdentity: Sendable {
    /// The executable's name: the default `SERVICE_NAME`, consumer group and data directory.
    public var name: String
    /// The default `METRICS_PORT`.
    public var metricsPort: Int
    /// The variable naming this service's consumer group, for example `PAYMENT_GROUP_ID`.
    public var groupIdVariable: String
    /// The topics this service consumes.
    public var subscriptions: @Sendable (Topics) -> [String]

    /// An identity; `subscriptions` maps the configured topic names to the ones consumed.
    public init(
        name: String,
        metricsPort: Int,
        groupIdVariable: String,
        subscriptions: @escaping @Sendable (Topics) -> [String]
    ) {
        self.name = name
        self.metricsPort = metricsPort
        self.groupIdVariable = groupIdVariable
        self.subscriptions = subscriptions
    }
}

/// The validated configuration every service shares, built once at start-up from the
/// environment (the original demo's variables plus the platform's). Every value in it has been
/// validated, so the parts built from it do not check again.
public struct ServiceConfiguration: Sendable {
    /// The broker the platform uses when `KAFKA_BROKERS` is unset (the original default).
    public static let defaultBrokers = "localhost:9092"

    /// `SERVICE_NAME`: the name in logs, metrics, the Kafka client id and the database file or
    /// schema; shared by the service's instances.
    public var serviceName: String
    /// `SERVICE_INSTANCE` (1–64): which of several instances of the service this process is
    /// (orderd sets it when a service has `instances` > 1); nil for the one instance.
    public var instance: Int?
    /// `<service>.<instance>` for one of several instances, else the service's name: the name of
    /// this process in its logs and its Kafka client id.
    public var instanceName: String { instance.map { "\(serviceName).\($0)" } ?? serviceName }
    /// `KAFKA_BROKERS` (normalized: no blanks) and the `KAFKA_*` properties librdkafka accepted.
    public var kafka: KafkaClientConfiguration
    /// The consumer group (the identity's group variable, default: the service's name).
    public var groupId: String
    /// The consumer's `group.instance.id` (KIP-345 static membership): `KAFKA_GROUP_INSTANCE_ID`,
    /// default `<service name>.<host>[.<instance>]` (the host from `HOSTNAME`, else the kernel's
    /// host name; the instance from `SERVICE_INSTANCE`), reduced to the characters Kafka accepts
    /// in it (`[A-Za-z0-9._-]`, at most 249). Stable across restarts, so on Apache Kafka a
    /// restarted member takes its partitions back without a rebalance; unique per group, or
    /// Kafka fences the older member (two hosts with one name need their own `HOSTNAME`).
    public var groupInstanceId: String
    /// The topic names (`*_TOPIC`), each a valid Kafka topic name.
    public var topics: Topics
    /// The topics this service consumes, in the identity's order.
    public var subscriptions: [String]
    /// `METRICS_HOST`: the bind address of the operations endpoints.
    public var metricsHost: String
    /// `METRICS_PORT`: 0–65535, 0 for any free port.
    public var metricsPort: Int
    /// `DATA_DIR`: where the service's SQLite database lives (unused with ``databaseURL``).
    public var dataDirectory: String
    /// `DATABASE_URL` (`postgres://user:password@host:5432/database?sslmode=…`): the service
    /// keeps its state in a schema of its own on that PostgreSQL server, shared by every
    /// instance of the service; nil (unset) keeps it in a SQLite file in ``dataDirectory``. Its
    /// ``DatabaseURL/description`` hides the password: log that, never the variable.
    public var databaseURL: DatabaseURL?
    /// `LOG_LEVEL`, case-insensitive.
    public var logLevel: Logger.Level
    /// `TOPIC_PARTITIONS` (1–1000) for topics the service creates.
    public var topicPartitions: Int
    /// `TOPIC_REPLICATION_FACTOR` (-1 for the broker's default, up to 32) for created topics.
    public var topicReplicationFactor: Int
    /// The pid of the supervising orderd, when started by it: the service exits with it.
    public var supervisorPid: Int32?
    /// How long sent outbox rows are kept before pruning (`OUTBOX_RETENTION_SECONDS`).
    public var outboxRetention: Duration
    /// How long processed event ids are remembered (`INBOX_RETENTION_SECONDS`); a repeat that
    /// arrives later than this is applied again, so keep it at least as long as the topics'
    /// `retention.ms` (Apache Kafka's default: 7 days).
    public var inboxRetention: Duration

    /// Reads and validates the shared variables of the README's configuration table through
    /// `reader` (keys such as `metrics.port`, read from `METRICS_PORT`); `kafkaProperties` are the
    /// `KAFKA_*` pass-through properties, checked against librdkafka here. Unset or blank values
    /// get their defaults.
    /// - Throws: ``ServiceConfigurationError`` naming the first variable whose value cannot be used.
    public init(
        identity: ServiceIdentity,
        reader: ConfigReader,
        kafkaProperties: [KafkaProperty] = []
    ) throws(ServiceConfigurationError) {
        serviceName = reader.trimmedString(forKey: "service.name", default: identity.name)
        if reader.trimmedString(forKey: "service.instance") != nil {
            instance = try reader.integer(forKey: "service.instance", default: 1, in: 1...64)
        }
        let defaults = Topics.defaults
        topics = Topics(
            ordersCreated: try reader.topic(forKey: "order.topic", default: defaults.ordersCreated),
            paymentsCompleted: try reader.topic(forKey: "payment.completed.topic", default: defaults.paymentsCompleted),
            paymentsFailed: try reader.topic(forKey: "payment.failed.topic", default: defaults.paymentsFailed),
            paymentsRefunded: try reader.topic(forKey: "payment.refunded.topic", default: defaults.paymentsRefunded),
            inventoryReserved: try reader.topic(
                forKey: "inventory.reserved.topic",
                default: defaults.inventoryReserved
            ),
            inventoryRejected: try reader.topic(
                forKey: "inventory.rejected.topic",
                default: defaults.inventoryRejected
            ),
            notificationsSent: try reader.topic(forKey: "notification.sent.topic", default: defaults.notificationsSent)
        )
        subscriptions = identity.subscriptions(topics)
        let groupKey = ConfigReader.key(forVariable: identity.groupIdVariable)
        groupId = reader.trimmedString(forKey: groupKey, default: identity.name)
        metricsHost = reader.trimmedString(forKey: "metrics.host", default: "0.0.0.0")
        metricsPort = try reader.port(forKey: "metrics.port", default: identity.metricsPort)
        dataDirectory = reader.trimmedString(forKey: "data.dir", default: "./data/\(identity.name)")
        if let url = reader.trimmedString(forKey: "database.url") {
            do {
                databaseURL = try DatabaseURL(url)
            } catch {
                throw ServiceConfigurationError(variable: "DATABASE_URL", problem: error.description)
            }
        }
        let level = reader.trimmedString(forKey: "log.level", default: "info").lowercased()
        guard let logLevel = Logger.Level(rawValue: level) else {
            throw ServiceConfigurationError(
                variable: "LOG_LEVEL",
                problem: "\"\(level)\" is not one of trace, debug, info, notice, warning, error, critical"
            )
        }
        self.logLevel = logLevel
        topicPartitions = try reader.integer(forKey: "topic.partitions", default: 3, in: 1...1000)
        topicReplicationFactor = try reader.integer(forKey: "topic.replication.factor", default: -1, in: -1...32)
        outboxRetention = .seconds(
            try reader.integer(
                forKey: "outbox.retention.seconds",
                default: Int(EventStore.defaultOutboxRetention.components.seconds),
                in: 0...(366 * 86_400)
            )
        )
        inboxRetention = .seconds(
            try reader.integer(
                forKey: "inbox.retention.seconds",
                default: Int(EventStore.defaultInboxRetention.components.seconds),
                in: 86_400...(3660 * 86_400)
            )
        )
        if let pid = reader.trimmedString(forKey: "orderd.pid") {
            guard let value = Int32(pid), value > 1 else {
                throw ServiceConfigurationError(variable: "ORDERD_PID", problem: "\"\(pid)\" is not a process id")
            }
            supervisorPid = value
        }

        let brokers = reader.trimmedString(forKey: "kafka.brokers", default: Self.defaultBrokers)
        let addresses = brokers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !addresses.isEmpty, addresses.allSatisfy({ !$0.isEmpty && !$0.contains(" ") }) else {
            throw ServiceConfigurationError(
                variable: "KAFKA_BROKERS",
                problem: "\"\(brokers)\" is not a comma-separated list of host:port"
            )
        }
        groupInstanceId =
            kafkaProperties.last { $0.name == "group.instance.id" }?.value
            ?? Self.groupInstanceId(
                service: serviceName,
                host: reader.trimmedString(forKey: "hostname") ?? Self.hostName(),
                instance: instance
            )
        let name = serviceName
        kafka = KafkaClientConfiguration(
            bootstrapServers: addresses.joined(separator: ","),
            clientId: instance.map { "\(name).\($0)" } ?? name,
            properties: kafkaProperties
        )
        do {
            try kafka.validate()
        } catch {
            if case .invalidProperty(let property, let source, let reason) = error {
                throw ServiceConfigurationError(variable: source, problem: "librdkafka rejects \(property): \(reason)")
            }
            throw ServiceConfigurationError(variable: "KAFKA_*", problem: error.description)
        }
    }

    /// Reads the configuration from environment variables: a ``ConfigReader/init(environment:)``
    /// for the named variables, and every `KAFKA_<PROPERTY>` variable as a librdkafka property.
    /// - Throws: ``ServiceConfigurationError`` naming the first variable whose value cannot be used.
    public init(identity: ServiceIdentity, environment: [String: String]) throws(ServiceConfigurationError) {
        try self.init(
            identity: identity,
            reader: ConfigReader(environment: environment),
            kafkaProperties: KafkaClientConfiguration.passThroughProperties(from: environment)
        )
    }

    /// ``kafka`` for the consumer: with ``groupInstanceId`` as its `group.instance.id` (a
    /// `KAFKA_GROUP_INSTANCE_ID` in ``kafka`` already is).
    public var consumerKafka: KafkaClientConfiguration {
        var consumer = kafka
        if !consumer.properties.contains(where: { $0.name == "group.instance.id" }) {
            consumer.properties.insert(
                KafkaProperty(name: "group.instance.id", value: groupInstanceId, source: "service instance"),
                at: 0
            )
        }
        return consumer
    }

    /// `<service>.<host>` with every character Kafka refuses in a `group.instance.id` replaced
    /// by `-`, cut to Kafka's 249 characters.
    static func groupInstanceId(service: String, host: String, instance: Int? = nil) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        let name = "\(service).\(host.isEmpty ? "localhost" : host)" + (instance.map { ".\($0)" } ?? "")
        return String(String(name.map { allowed.contains($0) ? $0 : "-" }).prefix(249))
    }

    /// The kernel's host name. Not `ProcessInfo.hostName`, which may wait on a DNS lookup.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The topics the platform needs, each with its dead-letter topic.
    public var topicSpecifications: [TopicSpecification] {
        topics.allWithDeadLetters.map {
            TopicSpecification(name: $0, partitions: topicPartitions, replicationFactor: topicReplicationFactor)
        }
    }
}
