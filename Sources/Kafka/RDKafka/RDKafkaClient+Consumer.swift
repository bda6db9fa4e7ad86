internal import CRdKafka
import Foundation

/// What one ``RDKafkaClient/consumerPoll(milliseconds:)`` returned.
enum ConsumerPollResult: Sendable {
    case message(KafkaMessage)
    /// A consumer error other than reaching the end of a partition, as text.
    case error(String)
    /// The member left its group: it did not poll within `max.poll.interval.ms` (librdkafka
    /// rejoins on the next poll), or a fatal error ended it (it never rejoins).
    case membershipLost(reason: String)
    case nothing
}

extension RDKafkaClient {
    /// Sends the main queue's events (rebalances, logs, statistics) to the consumer queue, so
    /// ``consumerPoll(milliseconds:)`` serves them.
    func redirectMainQueueToConsumer() {
        rd_kafka_poll_set_consumer(handle.pointer)
    }

    func subscribe(to topics: [String]) throws(KafkaError) {
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
        }
        let err = rd_kafka_subscribe(handle.pointer, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw .consumer(reason: "subscribe to \(topics): \(KafkaError.text(err))")
        }
    }

    /// The next record (copied out), an error, or nothing within `milliseconds`. Poll thread only;
    /// rebalance callbacks run inside it.
    func consumerPoll(milliseconds: Int32) -> ConsumerPollResult {
        guard let message = rd_kafka_consumer_poll(handle.pointer, milliseconds) else { return .nothing }
        defer { rd_kafka_message_destroy(message) }
        let err = message.pointee.err
        switch err {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
            break
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
            return .nothing
        case RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED:
            return .membershipLost(reason: "left the group: max.poll.interval.ms exceeded; rejoining")
        case RD_KAFKA_RESP_ERR__FATAL:
            return .membershipLost(reason: "fatal error: \(Self.errorText(message)); restart the service")
        default:
            return .error(KafkaError.text(err))
        }
        return .message(Self.copy(message))
    }

    /// Stores `next` (the offset to resume from, per partition) for the next commit.
    /// Non-blocking. Returns librdkafka's error text when it refused (a partition not assigned).
    func storeOffsets(_ next: [TopicPartition: Int64]) -> String? {
        let list = rd_kafka_topic_partition_list_new(Int32(next.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (partition, offset) in next {
            let entry = rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition)
            entry?.pointee.offset = offset
        }
        let err = rd_kafka_offsets_store(handle.pointer, list)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError.text(err)
    }

    /// Commits the stored offsets synchronously (blocking); nil when done or nothing was stored.
    func commitStoredBlocking() -> String? {
        let err = rd_kafka_commit(handle.pointer, nil, 0)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET ? nil : KafkaError.text(err)
    }

    /// Leaves the group (revocation callbacks run) and closes the consumer. Blocking; poll thread only.
    func closeConsumerBlocking() -> String? {
        let err = rd_kafka_consumer_close(handle.pointer)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError.text(err)
    }

    /// The message's error string, or its code's text.
    private static func errorText(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> String {
        rd_kafka_message_errstr(message).map { String(cString: $0) } ?? KafkaError.text(message.pointee.err)
    }

    private static func copy(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaMessage {
        let m = message.pointee
        let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
        let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        var headers: [KafkaHeader] = []
        var list: OpaquePointer?
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>?
            var bytes: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let value = bytes.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: value))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return KafkaMessage(
            topic: String(cString: rd_kafka_topic_name(m.rkt)),
            partition: m.partition,
            offset: m.offset,
            key: key,
            value: value,
            headers: headers,
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
        )
    }
}
