import Configuration
import Foundation
import Logging
import OrderEvents
import Testing
@testable import ServiceKit

@Suite("ServiceConfiguration from the environment")
struct ServiceConfigurationTests {
    static let identity = ServiceIdentity(
        name: "payment-service",
        metricsPort: 9101,
        groupIdVariable: "PAYMENT_GROUP_ID",
        subscriptions: { [$0.ordersCreated, $0.inventoryRejected] }
    )

    static func configuration(_ values: [String: String]) throws(ServiceConfigurationError) -> ServiceConfiguration {
        try ServiceConfiguration(identity: identity, environment: values)
    }

    @Test("an empty environment gives the documented defaults")
    func defaults() throws {
        let configuration = try Self.configuration([:])
        #expect(ServiceConfiguration.defaultBrokers == "localhost:9092")
        #expect(configuration.kafka.bootstrapServers == "localhost:9092")
        #expect(configuration.kafka.clientId == "payment-service")
        #expect(configuration.kafka.properties.isEmpty)
        #expect(configuration.serviceName == "payment-service")
        #expect(configuration.topics == Topics.defaults)
        #expect(configuration.topics.ordersCreated == "orders.created")
        #expect(configuration.topics.paymentsCompleted == "payments.completed")
        #expect(configuration.topics.paymentsFailed == "payments.failed")
        #expect(configuration.topics.paymentsRefunded == "payments.refunded")
        #expect(configuration.topics.inventoryReserved == "inventory.reserved")
        #expect(configuration.topics.inventoryRejected == "inventory.rejected")
        #expect(configuration.topics.notificationsSent == "notifications.sent")
        #expect(configuration.subscriptions == ["orders.created", "inventory.rejected"])
        #expect(configuration.groupId == "payment-service")
        #expect(configuration.metricsHost == "0.0.0.0")
        #expect(configuration.metricsPort == 9101)
        #expect(configuration.dataDirectory == "./data/payment-service")
        #expect(configuration.logLevel == .info)
        #expect(configuration.topicPartitions == 3)
        #expect(configuration.topicReplicationFactor == -1)
        #expect(configuration.supervisorPid == nil)
        #expect(configuration.topicSpecifications.count == 14)
        #expect(configuration.topicSpecifications.allSatisfy { $0.partitions == 3 && $0.replicationFactor == -1 })
    }

    @Test("the metrics port and group id come from the identity")
    func identityDefaults() throws {
        let other = ServiceIdentity(
            name: "x-service",
            metricsPort: 9999,
            groupIdVariable: "X_GROUP_ID",
            subscriptions: { [$0.paymentsFailed] }
        )
        let configuration = try ServiceConfiguration(identity: other, environment: ["PAYMENT_GROUP_ID": "ignored"])
        #expect(configuration.metricsPort == 9999)
        #expect(configuration.groupId == "x-service")
        #expect(configuration.subscriptions == ["payments.failed"])
        let grouped = try ServiceConfiguration(identity: other, environment: ["X_GROUP_ID": "xg"])
        #expect(grouped.groupId == "xg")
    }

    @Test("every variable overrides its default")
    func overrides() throws {
        let configuration = try Self.configuration([
            "KAFKA_BROKERS": "k1:9092, k2:9093",
            "SERVICE_NAME": "pay-2",
            "PAYMENT_GROUP_ID": "payments-blue",
            "ORDER_TOPIC": "orders.v2",
            "PAYMENT_COMPLETED_TOPIC": "pc",
            "PAYMENT_FAILED_TOPIC": "pf",
            "PAYMENT_REFUNDED_TOPIC": "pr",
            "INVENTORY_RESERVED_TOPIC": "ir",
            "INVENTORY_REJECTED_TOPIC": "inv_rejected-2",
            "NOTIFICATION_SENT_TOPIC": "ns",
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": "0",
            "DATA_DIR": "/var/lib/pay",
            "LOG_LEVEL": "DEBUG",
            "TOPIC_PARTITIONS": "12",
            "TOPIC_REPLICATION_FACTOR": "3",
            "ORDERD_PID": "4242",
            "KAFKA_SECURITY_PROTOCOL": "plaintext",
        ])
        #expect(configuration.kafka.bootstrapServers == "k1:9092,k2:9093")
        #expect(configuration.serviceName == "pay-2")
        #expect(configuration.kafka.clientId == "pay-2")
        #expect(configuration.groupId == "payments-blue")
        #expect(
            configuration.topics
                == Topics(
                    ordersCreated: "orders.v2",
                    paymentsCompleted: "pc",
                    paymentsFailed: "pf",
                    paymentsRefunded: "pr",
                    inventoryReserved: "ir",
                    inventoryRejected: "inv_rejected-2",
                    notificationsSent: "ns"
                )
        )
        #expect(configuration.subscriptions == ["orders.v2", "inv_rejected-2"])
        #expect(configuration.metricsHost == "127.0.0.1")
        #expect(configuration.metricsPort == 0)
        #expect(configuration.dataDirectory == "/var/lib/pay")
        #expect(configuration.logLevel == .debug)
        #expect(configuration.topicPartitions == 12)
        #expect(configuration.topicReplicationFactor == 3)
        #expect(configuration.supervisorPid == 4242)
        #expect(configuration.kafka.properties.map(\.name) == ["security.protocol"])
        #expect(configuration.kafka.properties.first?.source == "KAFKA_SECURITY_PROTOCOL")
        #expect(configuration.topicSpecifications.map(\.name).contains("orders.v2.dlq"))
    }

    @Test("any ConfigReader works: keys are the variables in dotted lower case, errors still name the variable")
    func inMemoryReader() throws {
        let reader = ConfigReader(
            provider: InMemoryProvider(values: [
                "metrics.port": "9555", "payment.group.id": "blue", "order.topic": "orders.v3", "kafka.brokers": "k:1",
            ])
        )
        let configuration = try ServiceConfiguration(identity: Self.identity, reader: reader)
        #expect(configuration.metricsPort == 9555)
        #expect(configuration.groupId == "blue")
        #expect(configuration.topics.ordersCreated == "orders.v3")
        #expect(configuration.kafka.bootstrapServers == "k:1")
        #expect(configuration.kafka.properties.isEmpty)

        let bad = ConfigReader(provider: InMemoryProvider(values: ["topic.replication.factor": "33"]))
        let error = #expect(throws: ServiceConfigurationError.self) {
            try ServiceConfiguration(identity: Self.identity, reader: bad)
        }
        #expect(error?.description == "invalid TOPIC_REPLICATION_FACTOR: \"33\" is not a whole number from -1 to 32")
    }

    @Test("the error messages are the documented ones, word for word")
    func messages() {
        let cases: [([String: String], String)] = [
            (["METRICS_PORT": "abc"], "invalid METRICS_PORT: \"abc\" is not a whole number from 0 to 65535"),
            (
                ["ORDER_TOPIC": "a b"],
                "invalid ORDER_TOPIC: \"a b\" is not a valid Kafka topic name (1–249 of A-Z a-z 0-9 . _ -)"
            ),
            (
                ["LOG_LEVEL": "Loud"],
                "invalid LOG_LEVEL: \"loud\" is not one of trace, debug, info, notice, warning, error, critical"
            ),
            (["ORDERD_PID": "1"], "invalid ORDERD_PID: \"1\" is not a process id"),
            (["KAFKA_BROKERS": " , "], "invalid KAFKA_BROKERS: \",\" is not a comma-separated list of host:port"),
        ]
        for (environment, message) in cases {
            let error = #expect(throws: ServiceConfigurationError.self) { try Self.configuration(environment) }
            #expect(error?.description == message)
        }
    }

    @Test("empty or blank values fall back to defaults")
    func blankValues() throws {
        let configuration = try Self.configuration(["METRICS_PORT": "", "LOG_LEVEL": "  ", "KAFKA_BROKERS": " "])
        #expect(configuration.metricsPort == 9101)
        #expect(configuration.logLevel == .info)
        #expect(configuration.kafka.bootstrapServers == "localhost:9092")
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var variable: String
        var value: String
        var testDescription: String { "\(variable)=\(value)" }
    }

    @Test(
        "a bad value is refused with an error naming the variable",
        arguments: [
            Bad(variable: "METRICS_PORT", value: "abc"),
            Bad(variable: "METRICS_PORT", value: "70000"),
            Bad(variable: "METRICS_PORT", value: "-1"),
            Bad(variable: "ORDER_TOPIC", value: "bad topic"),
            Bad(variable: "NOTIFICATION_SENT_TOPIC", value: "a/b"),
            Bad(variable: "PAYMENT_FAILED_TOPIC", value: String(repeating: "t", count: 250)),
            Bad(variable: "LOG_LEVEL", value: "loud"),
            Bad(variable: "TOPIC_PARTITIONS", value: "0"),
            Bad(variable: "TOPIC_PARTITIONS", value: "1001"),
            Bad(variable: "TOPIC_REPLICATION_FACTOR", value: "x"),
            Bad(variable: "ORDERD_PID", value: "1"),
            Bad(variable: "ORDERD_PID", value: "pid"),
            Bad(variable: "KAFKA_BROKERS", value: ","),
            Bad(variable: "KAFKA_BROKERS", value: "host one:9092"),
            Bad(variable: "KAFKA_NO_SUCH_PROPERTY", value: "1"),
            Bad(variable: "KAFKA_SESSION_TIMEOUT_MS", value: "soon"),
        ]
    )
    func badValue(_ bad: Bad) {
        let error = #expect(throws: ServiceConfigurationError.self) {
            try Self.configuration([bad.variable: bad.value])
        }
        #expect(error?.variable == bad.variable)
        #expect(error?.description.contains(bad.variable) == true, "\(error?.description ?? "")")
        #expect(error?.description.hasPrefix("invalid \(bad.variable): ") == true)
    }

    @Test("the unknown Kafka property error names the property too")
    func unknownKafkaProperty() {
        let error = #expect(throws: ServiceConfigurationError.self) {
            try Self.configuration(["KAFKA_NO_SUCH_PROPERTY": "1"])
        }
        #expect(error?.description.contains("KAFKA_NO_SUCH_PROPERTY") == true)
        #expect(error?.description.contains("no.such.property") == true)
    }

    static let secret = "Sup3r-S3cret-Value!"

    @Test("the SASL password is accepted and kept, but redacted when shown")
    func passwordAccepted() throws {
        let configuration = try Self.configuration(["KAFKA_SASL_PASSWORD": Self.secret, "KAFKA_SASL_USERNAME": "user"])
        let password = try #require(configuration.kafka.properties.first { $0.name == "sasl.password" })
        #expect(password.value == Self.secret)
        #expect(password.source == "KAFKA_SASL_PASSWORD")
        #expect(password.isSensitive)
        #expect(password.redacted == "sasl.password=[redacted]")
    }

    @Test(
        "the SASL password never appears in the text of any configuration error",
        arguments: [
            ["KAFKA_NO_SUCH_PROPERTY": "1"],
            ["METRICS_PORT": "abc"],
            ["LOG_LEVEL": "loud"],
            ["ORDER_TOPIC": "bad topic"],
            ["TOPIC_PARTITIONS": "0"],
            ["KAFKA_SECURITY_PROTOCOL": "carrier-pigeon"],
            ["KAFKA_BROKERS": "a b"],
        ]
    )
    func passwordNeverEchoed(extra: [String: String]) {
        var values = extra
        values["KAFKA_SASL_PASSWORD"] = Self.secret
        values["KAFKA_SSL_KEY_PASSWORD"] = Self.secret
        let error = #expect(throws: ServiceConfigurationError.self) { try Self.configuration(values) }
        guard let error else { return }
        for text in [
            error.description, error.problem, error.variable, String(describing: error), String(reflecting: error),
        ] {
            #expect(!text.contains(Self.secret), "\(text)")
        }
    }

    @Test("an unknown secret-looking property is reported by name, without its value")
    func refusedSecretRedacted() {
        let error = #expect(throws: ServiceConfigurationError.self) {
            try Self.configuration(["KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL_NOPE": Self.secret])
        }
        #expect(error?.variable == "KAFKA_SASL_OAUTHBEARER_TOKEN_ENDPOINT_URL_NOPE")
        #expect(error?.description.contains(Self.secret) == false, "\(error?.description ?? "")")
    }

    @Test("KAFKAJS_NO_PARTITIONER_WARNING from the original demo is accepted and ignored")
    func kafkaJSVariable() throws {
        let configuration = try Self.configuration(["KAFKAJS_NO_PARTITIONER_WARNING": "1"])
        #expect(configuration.kafka.properties.isEmpty)
    }

    @Test("KAFKA_BROKERS is the bootstrap list, not a pass-through property")
    func brokersNotProperty() throws {
        let configuration = try Self.configuration(["KAFKA_BROKERS": "b:1", "KAFKA_CLIENT_RACK": "r1"])
        #expect(configuration.kafka.bootstrapServers == "b:1")
        #expect(configuration.kafka.properties.map(\.name) == ["client.rack"])
    }

    @Test("log levels are case-insensitive and all accepted", arguments: Logger.Level.allCases)
    func logLevels(level: Logger.Level) throws {
        #expect(try Self.configuration(["LOG_LEVEL": level.rawValue.uppercased()]).logLevel == level)
    }

    @Test("the consumer is a static member: group.instance.id is <service>.<host> unless KAFKA_GROUP_INSTANCE_ID says")
    func staticMembership() throws {
        let configuration = try Self.configuration([:])
        let expected = ServiceConfiguration.groupInstanceId(
            service: "payment-service",
            host: ServiceConfiguration.hostName()
        )
        #expect(configuration.groupInstanceId == expected)
        #expect(expected.hasPrefix("payment-service."))
        let consumer = configuration.consumerKafka.properties
        #expect(consumer.map(\.name) == ["group.instance.id"])
        #expect(consumer.first?.value == expected)
        #expect(configuration.kafka.properties.isEmpty, "the producer has no group")

        let explicit = try Self.configuration(["KAFKA_GROUP_INSTANCE_ID": "payments-a", "SERVICE_NAME": "p2"])
        #expect(explicit.groupInstanceId == "payments-a")
        #expect(
            explicit.consumerKafka.properties.filter { $0.name == "group.instance.id" }.map(\.value) == ["payments-a"]
        )
    }

    @Test("a host name is reduced to what Kafka accepts in a group.instance.id")
    func instanceIdCharacters() {
        #expect(
            ServiceConfiguration.groupInstanceId(service: "svc", host: "db-1.example.org") == "svc.db-1.example.org"
        )
        #expect(ServiceConfiguration.groupInstanceId(service: "svc", host: "höst name:1") == "svc.h-st-name-1")
        #expect(ServiceConfiguration.groupInstanceId(service: "svc", host: "") == "svc.localhost")
        #expect(
            ServiceConfiguration.groupInstanceId(service: "svc", host: String(repeating: "h", count: 400)).count == 249
        )
    }
}
