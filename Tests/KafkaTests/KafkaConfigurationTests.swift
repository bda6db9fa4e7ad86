@testable import Kafka
import Testing

@Suite("librdkafka properties from the environment")
struct KafkaConfigurationTests {
    @Test("KAFKA_<PROPERTY> maps to the dotted lower-case property; KAFKA_BROKERS is not a property")
    func passThrough() {
        let properties = KafkaClientConfiguration.passThroughProperties(from: [
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISMS": "PLAIN",
            "KAFKA_BROKERS": "a:9092",
            "PATH": "/bin",
        ])
        #expect(
            properties == [
                KafkaProperty(name: "sasl.mechanisms", value: "PLAIN", source: "KAFKA_SASL_MECHANISMS"),
                KafkaProperty(name: "security.protocol", value: "SASL_SSL", source: "KAFKA_SECURITY_PROTOCOL"),
            ]
        )
    }

    @Test("an unknown property stops validation and names its variable")
    func unknownProperty() {
        let configuration = KafkaClientConfiguration(
            bootstrapServers: "localhost:9092",
            clientId: "t",
            properties: KafkaClientConfiguration.passThroughProperties(from: ["KAFKA_NO_SUCH_THING": "1"])
        )
        #expect(throws: KafkaError.self) { try configuration.validate() }
        do {
            try configuration.validate()
        } catch {
            #expect(error.description.contains("KAFKA_NO_SUCH_THING"))
            #expect(error.description.contains("no.such.thing"))
        }
    }

    @Test("an invalid value names the variable and never echoes a secret")
    func invalidSecretValue() {
        let secret = "hunter2-very-secret"
        let configuration = KafkaClientConfiguration(
            bootstrapServers: "localhost:9092",
            clientId: "t",
            properties: [
                KafkaProperty(name: "sasl.password", value: secret, source: "KAFKA_SASL_PASSWORD"),
                KafkaProperty(name: "acks", value: "sometimes", source: "KAFKA_ACKS"),
            ]
        )
        do {
            try configuration.validate()
            Issue.record("an invalid acks value was accepted")
        } catch {
            #expect(error.description.contains("KAFKA_ACKS"))
            #expect(!error.description.contains(secret))
        }
        #expect(KafkaProperty(name: "sasl.password", value: secret, source: "x").redacted == "sasl.password=[redacted]")
        #expect(KafkaProperty(name: "acks", value: "all", source: "x").redacted == "acks=all")
    }

    @Test("a cancelled ensureTopics against a cluster that does not answer ends at once with shutDown")
    func cancelledEnsureTopics() async throws {
        let unreachable = KafkaClientConfiguration(
            bootstrapServers: "127.0.0.1:1",
            clientId: "cancelled-admin",
            statisticsInterval: nil
        )
        let began = ContinuousClock.now
        let attempt = Task {
            try await KafkaAdmin.ensureTopics(
                [TopicSpecification(name: "never", partitions: 1)],
                configuration: unreachable,
                timeout: .seconds(60),
                logger: TestKafka.logger
            )
        }
        attempt.cancel()
        let result = await attempt.result
        #expect(throws: KafkaError.shutDown) { try result.get() }
        // Without the cancellation it would wait out its 60 s timeout against the dead address.
        #expect(ContinuousClock.now - began < .seconds(30))
    }

    @Test("ensureTopics finds provisioned topics and creates nothing")
    func ensureExistingTopics() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [
            TopicSpecification(name: "admin-a", partitions: 3), TopicSpecification(name: "admin-b", partitions: 1),
        ])
        let configuration = TestKafka.configuration(cluster)
        let created = try await KafkaAdmin.ensureTopics(
            [TopicSpecification(name: "admin-a", partitions: 3), TopicSpecification(name: "admin-b", partitions: 1)],
            configuration: configuration,
            timeout: .seconds(5),
            logger: TestKafka.logger
        )
        #expect(created.isEmpty)
        let producer = try KafkaProducer(configuration: configuration, logger: TestKafka.logger)
        let partitions = try await withRunningClients(producer) {
            var partitions = Set<Int32>()
            for index in 0..<60 {
                partitions.insert(
                    try await producer.send(topic: "admin-a", key: Array("k\(index)".utf8), value: [1]).partition
                )
            }
            return partitions
        }
        #expect(partitions == [0, 1, 2])
    }

    @Test("each client gets only the pass-through properties of its kind, as librdkafka lists them")
    func scopes() {
        #expect(PropertyScope.of("fetch.wait.max.ms") == .consumer)
        #expect(PropertyScope.of("session.timeout.ms") == .consumer)
        #expect(PropertyScope.of("linger.ms") == .producer)
        #expect(PropertyScope.of("enable.idempotence") == .producer)
        #expect(PropertyScope.of("security.protocol") == .both)
        #expect(PropertyScope.of("no.such.property") == nil)
        let fetch = KafkaProperty(name: "fetch.wait.max.ms", value: "5", source: "KAFKA_FETCH_WAIT_MAX_MS")
        #expect(!PropertyScope.applies(fetch, toConsumer: false))
        #expect(PropertyScope.applies(fetch, toConsumer: true))
        let typo = KafkaProperty(name: "fetch.wait.max", value: "5", source: "KAFKA_FETCH_WAIT_MAX")
        #expect(
            PropertyScope.applies(typo, toConsumer: false),
            "an unknown name still reaches librdkafka, which rejects it"
        )
    }
}
