/// A partition of a topic.
public struct TopicPartition: Sendable, Hashable, CustomStringConvertible {
    /// The topic name.
    public var topic: String
    /// The partition number, from 0.
    public var partition: Int32

    /// A partition of `topic`.
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// `topic[partition]`, as the logs print it.
    public var description: String { "\(topic)[\(partition)]" }
}

/// A consumed record. Values are copied out of librdkafka, so a message outlives the poll.
public struct KafkaMessage: Sendable, Hashable {
    /// The topic it was read from.
    public var topic: String
    /// The partition it was read from; records of one partition arrive in offset order.
    public var partition: Int32
    /// Its offset in the partition; the offset to store once it is processed is this + 1.
    public var offset: Int64
    /// The key the producer partitioned by; nil when it had none.
    public var key: [UInt8]?
    /// The payload, copied out of librdkafka.
    public var value: [UInt8]
    /// The headers, in the order the producer added them.
    public var headers: [KafkaHeader]
    /// Milliseconds since the epoch, when the broker or producer set one.
    public var timestampMilliseconds: Int64?

    /// A record; the consumer builds these, tests and tools may too.
    public init(
        topic: String,
        partition: Int32,
        offset: Int64,
        key: [UInt8]?,
        value: [UInt8],
        headers: [KafkaHeader] = [],
        timestampMilliseconds: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }

    /// Where the record came from.
    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }

    /// The first header with this name, as text.
    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.stringValue
    }

    /// The key as UTF-8 text; nil without a key or when it is not UTF-8.
    public var keyString: String? { key.flatMap { String(bytes: $0, encoding: .utf8) } }
}
