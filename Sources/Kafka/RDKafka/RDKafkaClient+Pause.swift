internal import CRdKafka

extension RDKafkaClient {
    /// Stops fetching `partitions` (the consumer keeps polling and stays in its group); messages
    /// already fetched still arrive from ``consumerPoll(milliseconds:)``. Poll thread only, so
    /// that pauses and resumes happen in the order the consumer decided them.
    /// - Returns: the partitions librdkafka refused, with its reason (none assigned any more).
    @discardableResult
    func pause(_ partitions: Set<TopicPartition>) -> [String] {
        Self.pauseOrResume(partitions) { rd_kafka_pause_partitions(handle.pointer, $0) }
    }

    /// Fetches `partitions` again after ``pause(_:)``. Poll thread only.
    /// - Returns: the partitions librdkafka refused, with its reason.
    @discardableResult
    func resume(_ partitions: Set<TopicPartition>) -> [String] {
        Self.pauseOrResume(partitions) { rd_kafka_resume_partitions(handle.pointer, $0) }
    }

    /// Pauses `partitions` of `rk` from inside a rebalance callback, right after they were
    /// assigned (an assignment resets a partition's pause state).
    static func pause(_ partitions: Set<TopicPartition>, of rk: OpaquePointer) -> [String] {
        pauseOrResume(partitions) { rd_kafka_pause_partitions(rk, $0) }
    }

    private static func pauseOrResume(
        _ partitions: Set<TopicPartition>,
        _ call: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> rd_kafka_resp_err_t
    ) -> [String] {
        guard !partitions.isEmpty, let list = rd_kafka_topic_partition_list_new(Int32(partitions.count)) else {
            return []
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in partitions {
            rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition)
        }
        let err = call(list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            return ["\(partitions.count) partitions: \(KafkaError.text(err))"]
        }
        return (0..<Int(list.pointee.cnt)).compactMap { index in
            let element = list.pointee.elems[index]
            guard element.err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
            return "\(String(cString: element.topic))[\(element.partition)]: \(KafkaError.text(element.err))"
        }
    }
}
