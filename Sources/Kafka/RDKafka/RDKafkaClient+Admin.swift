internal import CRdKafka
import Foundation

extension RDKafkaClient {
    /// The names of the topics the cluster reports without error. Blocking (up to `timeout`).
    func existingTopicsBlocking(timeout: Duration) -> Result<Set<String>, KafkaError> {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle.pointer, 1, nil, &metadata, Int32(timeout.milliseconds))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            return .failure(.topic(name: "*", reason: "cannot read cluster metadata: \(KafkaError.text(err))"))
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        let topics = UnsafeBufferPointer(start: metadata.pointee.topics, count: Int(metadata.pointee.topic_cnt))
        return .success(Set(topics.filter { $0.err == RD_KAFKA_RESP_ERR_NO_ERROR }.map { String(cString: $0.topic) }))
    }

    /// Creates `topics`; returns the names created (one that already exists is skipped).
    /// Blocking (up to `timeout` plus a second).
    func createTopicsBlocking(_ topics: [TopicSpecification], timeout: Duration) -> Result<[String], KafkaError> {
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { newTopics.forEach { rd_kafka_NewTopic_destroy($0) } }
        for topic in topics {
            guard
                let newTopic = rd_kafka_NewTopic_new(
                    topic.name,
                    Int32(topic.partitions),
                    Int32(topic.replicationFactor),
                    &errstr,
                    errstr.count
                )
            else {
                return .failure(.topic(name: topic.name, reason: String(errorBuffer: errstr)))
            }
            newTopics.append(newTopic)
        }
        let queue = rd_kafka_queue_new(handle.pointer)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(handle.pointer, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, Int32(timeout.milliseconds), &errstr, errstr.count)
        newTopics.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_CreateTopics(handle.pointer, buffer.baseAddress, buffer.count, options, queue)
        }
        let names = topics.map(\.name).joined(separator: ",")
        guard let event = rd_kafka_queue_poll(queue, Int32(timeout.milliseconds) + 1000) else {
            return .failure(.topic(name: names, reason: "no answer within \(timeout)"))
        }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        guard eventError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            return .failure(.topic(name: names, reason: KafkaError.text(eventError)))
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
                let message =
                    rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) }
                    ?? KafkaError.text(err)
                return .failure(.topic(name: name, reason: message))
            }
        }
        return .success(created)
    }
}
