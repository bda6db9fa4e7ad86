import Foundation
import Logging

/// A topic to create: name, partitions, replication factor (-1: the broker's default).
public struct TopicSpecification: Sendable, Hashable {
    /// The topic name.
    public var name: String
    /// How many partitions to create it with; keys are spread over them.
    public var partitions: Int
    /// Copies of each partition; -1 leaves it to the broker's default.
    public var replicationFactor: Int

    /// A topic specification; nothing is checked until a cluster creates it.
    public init(name: String, partitions: Int, replicationFactor: Int = -1) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
    }
}

/// Cluster administration. Every call runs its blocking librdkafka work on the module's shared
/// blocking pool, never on the cooperative pool; calls may be made concurrently from any task.
public enum KafkaAdmin {
    /// Makes sure every topic exists: reads the cluster's metadata and creates only the missing
    /// ones (so a cluster where the topics are provisioned, or where creating them is not
    /// allowed, needs no admin rights). An existing topic is left as it is, whatever its
    /// partition count.
    /// - Returns: the names of the topics that were created.
    /// - Throws: ``KafkaError/topic(name:reason:)`` when metadata cannot be read or a missing
    ///   topic cannot be created, or ``KafkaError/clientCreation(reason:)``; ``KafkaError/shutDown``
    ///   at once when the calling task is cancelled (the attempt itself runs on to `timeout` on
    ///   the blocking pool, so a topic may still be created).
    @discardableResult
    public static func ensureTopics(
        _ topics: [TopicSpecification],
        configuration: KafkaClientConfiguration,
        timeout: Duration = .seconds(30),
        logger: Logger
    ) async throws(KafkaError) -> [String] {
        var configuration = configuration
        configuration.statisticsInterval = nil
        // The client is created and destroyed (destroying it blocks) on the blocking pool.
        let result: Result<[String], KafkaError>? = await BlockingPool.runUnlessCancelled { [configuration] in
            let client: RDKafkaClient
            do {
                client = try RDKafkaClient(
                    kind: .producer,
                    configuration: configuration,
                    defaults: [],
                    context: ClientContext(
                        logger: logger,
                        statistics: KafkaStatisticsRecorder(client: configuration.clientId)
                    )
                )
            } catch let error as KafkaError {
                return .failure(error)
            } catch {
                return .failure(.clientCreation(reason: "\(error)"))
            }
            return client.existingTopicsBlocking(timeout: timeout).flatMap { existing in
                let missing = topics.filter { !existing.contains($0.name) }
                return missing.isEmpty ? .success([]) : client.createTopicsBlocking(missing, timeout: timeout)
            }
        }
        // Cancelled: the attempt runs on to its timeout on the pool; the topics may still appear.
        guard let result else { throw .shutDown }
        let created = try result.get()
        if !created.isEmpty {
            logger.info("created topics: \(created.joined(separator: ", "))")
        }
        return created
    }
}
