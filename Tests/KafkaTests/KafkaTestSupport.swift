import Foundation
import Kafka
import Logging
import Testing

enum TestKafka {
    static let logger: Logger = {
        var logger = Logger(label: "kafka-tests")
        logger.logLevel = .warning
        return logger
    }()

    static func configuration(_ cluster: EmbeddedKafkaCluster, client: String = "test") -> KafkaClientConfiguration {
        KafkaClientConfiguration(
            bootstrapServers: cluster.bootstrapServers,
            clientId: client,
            statisticsInterval: nil
        )
    }

    static func producer(
        _ cluster: EmbeddedKafkaCluster,
        shutdownTimeout: Duration = .seconds(10)
    ) throws -> KafkaProducer {
        try KafkaProducer(configuration: configuration(cluster), logger: logger, shutdownTimeout: shutdownTimeout)
    }

    static func consumer(_ cluster: EmbeddedKafkaCluster, group: String, topics: [String]) throws -> KafkaConsumer {
        var configuration = configuration(cluster)
        configuration.properties = [
            KafkaProperty(name: "session.timeout.ms", value: "6000", source: "test"),
            KafkaProperty(name: "heartbeat.interval.ms", value: "500", source: "test"),
        ]
        return try KafkaConsumer(configuration: configuration, groupId: group, topics: topics, logger: logger)
    }
}

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Reads messages until `done` says so, failing when `timeout` passes first. Every message
/// read is acknowledged (its offset stored) unless `acknowledge` says otherwise.
func collect(
    from consumer: KafkaConsumer,
    timeout: Duration = .seconds(30),
    acknowledge: @escaping @Sendable (KafkaMessage) -> Bool = { _ in true },
    until done: @escaping @Sendable ([KafkaMessage]) -> Bool
) async throws -> [KafkaMessage] {
    try await withThrowingTaskGroup(of: [KafkaMessage]?.self) { group in
        group.addTask {
            var seen: [KafkaMessage] = []
            for await message in consumer.messages {
                seen.append(message)
                if acknowledge(message) { consumer.storeOffset(of: message) }
                if done(seen) { return seen }
            }
            return seen
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        guard let messages = first else {
            await consumer.shutdown()
            throw TimedOut(description: "condition not met within \(timeout)")
        }
        return messages
    }
}
