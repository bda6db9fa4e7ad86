import CRdKafka
import Foundation
import Logging

/// A member of a balanced consumer group.
///
/// - Delivery: ``messages`` yields records in partition order. Offsets are never stored
///   automatically: call ``storeOffset(of:)`` after the message's effects are committed; stored
///   offsets are committed in the background (`enable.auto.commit`), on revocation and on
///   shutdown. A crash therefore re-delivers at most the messages whose effects were not yet
///   acknowledged — at-least-once, which the inbox turns into effectively-once.
/// - Rebalances: on revocation, buffered messages of the revoked partitions are dropped (their
///   offsets were never stored) and the consumer waits for the handed-out ones to be
///   acknowledged, then commits synchronously, so the next owner starts exactly after them.
/// - Threads: `rd_kafka_consumer_poll` runs on a dedicated thread, never on the cooperative pool.
/// - Batches: ``batches(maximum:)`` hands out everything already buffered at once, so the
///   caller can handle a burst in one database transaction; ``storeOffsets(of:)`` then
///   acknowledges the whole batch with one call.
/// - ``messages`` or ``batches(maximum:)`` may be iterated by one task at a time.
public final class KafkaConsumer: Sendable {
    private let client: RdKafkaClient
    private let buffer: MessageBuffer
    private let logger: Logger
    private let lifecycle = PollThreadLifecycle()

    /// Consumer defaults. Anything in `configuration.properties` overrides them.
    public static func defaults(groupId: String) -> [KafkaProperty] {
        [
            KafkaProperty(name: "group.id", value: groupId, source: "group id"),
            KafkaProperty(name: "enable.auto.offset.store", value: "false", source: "default"),
            KafkaProperty(name: "enable.auto.commit", value: "true", source: "default"),
            KafkaProperty(name: "auto.commit.interval.ms", value: "1000", source: "default"),
            KafkaProperty(name: "auto.offset.reset", value: "earliest", source: "default"),
            KafkaProperty(name: "session.timeout.ms", value: "6000", source: "default"),
            KafkaProperty(name: "heartbeat.interval.ms", value: "2000", source: "default"),
            KafkaProperty(name: "partition.assignment.strategy", value: "range,roundrobin", source: "default"),
        ]
    }

    /// How long a revocation waits for handed-out messages before giving their partitions up.
    public static let revocationGrace: TimeInterval = 30

    /// Creates the consumer and subscribes to `topics` as a member of `groupId`.
    /// - Parameter onAssignment: called on the poll thread after each assignment (possibly
    ///   empty, in a group with more members than partitions): the consumer has joined its group.
    public init(
        configuration: KafkaClientConfiguration,
        groupId: String,
        topics: [String],
        bufferCapacity: Int = 1024,
        logger: Logger,
        onAssignment: (@Sendable (Set<TopicPartition>) -> Void)? = nil
    ) throws(KafkaError) {
        let buffer = MessageBuffer(capacity: bufferCapacity)
        let context = ClientContext(
            logger: logger,
            statistics: KafkaStatisticsRecorder(client: configuration.clientId + "-consumer"),
            rebalance: { rk, err, partitions in
                Self.rebalance(rk, err, partitions, buffer: buffer, logger: logger, onAssignment: onAssignment)
            }
        )
        self.client = try RdKafkaClient(
            type: RD_KAFKA_CONSUMER, configuration: configuration,
            defaults: Self.defaults(groupId: groupId), context: context
        )
        self.buffer = buffer
        self.logger = logger
        rd_kafka_poll_set_consumer(client.handle)

        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
        }
        let err = rd_kafka_subscribe(client.handle, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw .consumer(reason: "subscribe to \(topics): \(KafkaError.text(err))")
        }
        BlockingThread.start(name: "kafka-consumer-poll") { [client, buffer, lifecycle, logger] in
            Self.pollLoop(client: client, buffer: buffer, lifecycle: lifecycle, logger: logger)
        }
    }

    /// The consumed messages, in partition order. Ends after ``shutdown()``.
    public var messages: Messages { Messages(buffer: buffer) }

    /// The consumed messages in batches of at most `maximum`: each batch is everything buffered
    /// when it is taken (at least one message), in partition order. Ends after ``shutdown()``.
    public func batches(maximum: Int) -> Batches { Batches(buffer: buffer, maximum: maximum) }

    /// Marks `message` processed: its offset + 1 is committed with the next commit.
    /// Non-blocking and thread-safe. Storing for a partition no longer assigned is ignored
    /// (the next owner re-delivers it; the inbox absorbs the repeat).
    public func storeOffset(of message: KafkaMessage) {
        storeOffsets(of: [message])
    }

    /// Marks every message of `messages` processed with one call: for each partition, the
    /// highest offset + 1 is committed with the next commit. Call it only once the effects of
    /// all of them are committed. Non-blocking and thread-safe.
    public func storeOffsets(of messages: [KafkaMessage]) {
        guard !messages.isEmpty else { return }
        var next: [TopicPartition: Int64] = [:]
        var handedOut: [TopicPartition: Int] = [:]
        for message in messages {
            next[message.topicPartition] = max(next[message.topicPartition] ?? 0, message.offset + 1)
            handedOut[message.topicPartition, default: 0] += 1
        }
        defer {
            for (partition, count) in handedOut { buffer.acknowledge(partition, count: count) }
        }
        let list = rd_kafka_topic_partition_list_new(Int32(next.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (partition, offset) in next {
            let entry = rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition)
            entry?.pointee.offset = offset
        }
        let err = rd_kafka_offsets_store(client.handle, list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.debug("offsets not stored for \(next.keys.map(\.description).sorted()): \(KafkaError.text(err))")
        }
    }

    /// Ends the iteration of ``messages`` without closing: a message being handled can still
    /// store its offset. Call ``shutdown()`` afterwards.
    public func stopDelivering() {
        buffer.finish()
    }

    /// Stops delivering messages (the iteration ends), commits stored offsets, leaves the group
    /// and closes the client. Returns once closed, or after `timeout` when the close is stuck
    /// (an unreachable coordinator); the group then expires the member after its session
    /// timeout. Idempotent.
    /// - Returns: false when the close did not finish in time.
    @discardableResult
    public func shutdown(timeout: Duration = .seconds(10)) async -> Bool {
        buffer.finish()
        let closed = await lifecycle.stopAndWait(timeout: timeout)
        if !closed {
            logger.warning("consumer close did not finish within \(timeout); the group expires this member after its session timeout")
        }
        return closed
    }

    /// True when a broker answered a metadata request within `timeout`.
    public func brokerAnswers(timeout: Duration = .seconds(2)) async -> Bool {
        await BlockingThread.run(name: "kafka-metadata") { [client] in
            client.brokerAnswersBlocking(timeout: timeout)
        }
    }

    private static func pollLoop(client: RdKafkaClient, buffer: MessageBuffer, lifecycle: PollThreadLifecycle, logger: Logger) {
        while lifecycle.isRunning {
            // While the application is behind, leave records in librdkafka's queue. Rebalance
            // callbacks wait until it pulls the next message, which bounds that delay.
            guard buffer.waitForRoom(timeout: 0.1) else { continue }
            guard let message = rd_kafka_consumer_poll(client.handle, 100) else { continue }
            defer { rd_kafka_message_destroy(message) }
            let m = message.pointee
            guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                if m.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    logger.warning("consumer error: \(KafkaError.text(m.err))")
                }
                continue
            }
            buffer.push(copy(message))
        }
        buffer.finish()
        var err = rd_kafka_commit(client.handle, nil, 0)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, err != RD_KAFKA_RESP_ERR__NO_OFFSET {
            logger.warning("final offset commit failed: \(KafkaError.text(err))")
        }
        err = rd_kafka_consumer_close(client.handle)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("consumer close: \(KafkaError.text(err))")
        }
        lifecycle.threadExited()
    }

    private static func rebalance(
        _ rk: OpaquePointer, _ err: rd_kafka_resp_err_t,
        _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>,
        buffer: MessageBuffer, logger: Logger, onAssignment: (@Sendable (Set<TopicPartition>) -> Void)?
    ) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        let set = Self.partitions(partitions)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            logger.info("partitions assigned: \(set.map(\.description).sorted().joined(separator: ", "))")
            if cooperative {
                _ = rd_kafka_incremental_assign(rk, partitions)
            } else {
                _ = rd_kafka_assign(rk, partitions)
            }
            onAssignment?(set)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let stuck = buffer.revoke(set, timeout: revocationGrace)
            if !stuck.isEmpty {
                logger.warning("revoking partitions with unacknowledged messages: \(stuck); they will be re-delivered")
            }
            let commit = rd_kafka_commit(rk, nil, 0)
            if commit != RD_KAFKA_RESP_ERR_NO_ERROR, commit != RD_KAFKA_RESP_ERR__NO_OFFSET {
                logger.warning("commit on revocation failed: \(KafkaError.text(commit))")
            }
            logger.info("partitions revoked: \(set.map(\.description).sorted().joined(separator: ", "))")
            if cooperative {
                _ = rd_kafka_incremental_unassign(rk, partitions)
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
        default:
            logger.error("rebalance error: \(KafkaError.text(err))")
            _ = rd_kafka_assign(rk, nil)
        }
    }

    private static func partitions(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Set<TopicPartition> {
        let count = Int(list.pointee.cnt)
        return Set((0..<count).map { index in
            let element = list.pointee.elems[index]
            return TopicPartition(topic: String(cString: element.topic), partition: element.partition)
        })
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

    /// The consumed messages as an `AsyncSequence`. Iterate from one task at a time.
    public struct Messages: AsyncSequence, Sendable {
        public typealias Element = KafkaMessage
        let buffer: MessageBuffer

        public func makeAsyncIterator() -> Iterator { Iterator(buffer: buffer) }

        public struct Iterator: AsyncIteratorProtocol {
            let buffer: MessageBuffer
            public mutating func next() async -> KafkaMessage? {
                await buffer.next(maximum: 1).first
            }
        }
    }

    /// The consumed messages in batches, as an `AsyncSequence`. Iterate from one task at a time.
    public struct Batches: AsyncSequence, Sendable {
        public typealias Element = [KafkaMessage]
        let buffer: MessageBuffer
        let maximum: Int

        public func makeAsyncIterator() -> Iterator { Iterator(buffer: buffer, maximum: maximum) }

        public struct Iterator: AsyncIteratorProtocol {
            let buffer: MessageBuffer
            let maximum: Int
            public mutating func next() async -> [KafkaMessage]? {
                let batch = await buffer.next(maximum: maximum)
                return batch.isEmpty ? nil : batch
            }
        }
    }
}
