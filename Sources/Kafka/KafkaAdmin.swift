import CRdKafka
import Foundation
import Logging

/// A topic to create: name, partitions, replication factor (-1: the broker's default).
public struct TopicSpecification: Sendable, Hashable {
    public var name: String
    public var partitions: Int
    public var replicationFactor: Int

    public init(name: String, partitions: Int, replicationFactor: Int = -1) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
    }
}

/// Cluster administration. Every call runs its blocking librdkafka work on a dedicated thread.
public enum KafkaAdmin {
    /// Makes sure every topic exists: reads the cluster's metadata and creates only the missing
    /// ones (so a cluster where the topics are provisioned, or where creating them is not
    /// allowed, needs no admin rights). An existing topic is left as it is, whatever its
    /// partition count.
    /// - Returns: the names of the topics that were created.
    /// - Throws: ``KafkaError/topic(name:reason:)`` when metadata cannot be read or a missing
    ///   topic cannot be created, or ``KafkaError/clientCreation(reason:)``.
    @discardableResult
    public static func ensureTopics(
        _ topics: [TopicSpecification],
        configuration: KafkaClientConfiguration,
        timeout: Duration = .seconds(30),
        logger: Logger
    ) async throws(KafkaError) -> [String] {
        var configuration = configuration
        configuration.statisticsInterval = nil
        // The client is created and destroyed (rd_kafka_destroy blocks) on the blocking thread.
        let result: Result<[String], KafkaError> = await BlockingThread.run(name: "kafka-admin") { [configuration] in
            let client: RdKafkaClient
            do {
                client = try RdKafkaClient(
                    type: RD_KAFKA_PRODUCER, configuration: configuration, defaults: [],
                    context: ClientContext(logger: logger, statistics: KafkaStatisticsRecorder(client: configuration.clientId))
                )
            } catch let error as KafkaError {
                return .failure(error)
            } catch {
                return .failure(.clientCreation(reason: "\(error)"))
            }
            return Self.existingTopicsBlocking(client: client, timeout: timeout).flatMap { existing in
                let missing = topics.filter { !existing.contains($0.name) }
                return missing.isEmpty ? .success([]) : Self.createBlocking(missing, client: client, timeout: timeout)
            }
        }
        let created = try result.get()
        if !created.isEmpty {
            logger.info("created topics: \(created.joined(separator: ", "))")
        }
        return created
    }

    private static func existingTopicsBlocking(client: RdKafkaClient, timeout: Duration) -> Result<Set<String>, KafkaError> {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(client.handle, 1, nil, &metadata, Int32(timeout.milliseconds))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            return .failure(.topic(name: "*", reason: "cannot read cluster metadata: \(KafkaError.text(err))"))
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        let topics = UnsafeBufferPointer(start: metadata.pointee.topics, count: Int(metadata.pointee.topic_cnt))
        return .success(Set(topics.filter { $0.err == RD_KAFKA_RESP_ERR_NO_ERROR }.map { String(cString: $0.topic) }))
    }

    private static func createBlocking(
        _ topics: [TopicSpecification], client: RdKafkaClient, timeout: Duration
    ) -> Result<[String], KafkaError> {
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { newTopics.forEach { rd_kafka_NewTopic_destroy($0) } }
        for topic in topics {
            guard let newTopic = rd_kafka_NewTopic_new(
                topic.name, Int32(topic.partitions), Int32(topic.replicationFactor), &errstr, errstr.count
            ) else {
                return .failure(.topic(name: topic.name, reason: String(errorBuffer: errstr)))
            }
            newTopics.append(newTopic)
        }
        let queue = rd_kafka_queue_new(client.handle)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(client.handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, Int32(timeout.milliseconds), &errstr, errstr.count)
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(client.handle, buffer.baseAddress, buffer.count, options, queue)
        }
        guard let event = rd_kafka_queue_poll(queue, Int32(timeout.milliseconds) + 1000) else {
            return .failure(.topic(name: topics.map(\.name).joined(separator: ","), reason: "no answer within \(timeout)"))
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        guard eventError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            return .failure(.topic(name: topics.map(\.name).joined(separator: ","), reason: KafkaError.text(eventError)))
        }
        let result = rd_kafka_event_CreateTopics_result(event)
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return .success([]) }
        var created: [String] = []
        for index in 0..<count {
            let topicResult = results[index]
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let err = rd_kafka_topic_result_error(topicResult)
            switch err {
            case RD_KAFKA_RESP_ERR_NO_ERROR: created.append(name)
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: continue
            default:
                let message = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? KafkaError.text(err)
                return .failure(.topic(name: name, reason: message))
            }
        }
        return .success(created)
    }
}
