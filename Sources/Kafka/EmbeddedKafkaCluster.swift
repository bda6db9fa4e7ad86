import Foundation

/// librdkafka's mock cluster: real Kafka-protocol brokers listening on 127.0.0.1, in this
/// process, with consumer groups and idempotent producers. For development and tests only: it
/// keeps everything in memory, and each partition keeps only about 5 MB (older records are
/// purged like retention).
///
/// The brokers run on librdkafka's own threads and live until the cluster is deinitialised.
/// Thread-safety: every method may be called from any thread or task; each blocks for a few
/// milliseconds (a round trip to the cluster's thread), so call them at set-up, not in hot loops.
public final class EmbeddedKafkaCluster: Sendable {
    /// The bootstrap list to hand to clients (`KAFKA_BROKERS`).
    public let bootstrapServers: String
    let cluster: RDKafkaMockCluster

    /// Client properties that suit the mock cluster and only it, for every client of an embedded
    /// broker (orderd passes them to its services as `KAFKA_*`).
    ///
    /// The mock answers a fetch that finds no data only after the full `fetch.wait.max.ms`
    /// (librdkafka's default 500 ms), even when data arrives meanwhile, so each hop would cost up
    /// to that wait; a real broker answers as soon as `fetch.min.bytes` arrive, and there a short
    /// wait only adds fetch requests. `fetch.error.backoff.ms` (default 500 ms) is the pause after
    /// a fetch error such as a partition the mock has not created yet.
    ///
    /// Recovery: the mock of librdkafka 2.0.2 ignores `group.instance.id` (static membership), so
    /// a member that was SIGKILLed stays in its group until its session times out (checked once
    /// a second); a rebalance then waits `session.timeout.ms − 1000` ms for the members, and the
    /// first join of an empty group waits 3 s, during which a member whose session is shorter is
    /// dropped (the join never completes). A restarted member is assigned partitions after about
    /// `2 × session.timeout.ms − 1000` ms, less when the dead member times out before the new one
    /// is elected: 3.5 s (just above the first join's 3 s) makes that 5–6 s instead of 6–11 s
    /// with the consumers' 6 s. Apache Kafka refuses a session below its
    /// `group.min.session.timeout.ms` (6 s by default) and does not need one: there, a restarted
    /// static member takes its partitions back without a rebalance.
    public static let lowLatencyProperties: [KafkaProperty] = [
        KafkaProperty(name: "fetch.wait.max.ms", value: "5", source: "embedded broker"),
        KafkaProperty(name: "fetch.error.backoff.ms", value: "10", source: "embedded broker"),
        KafkaProperty(name: "session.timeout.ms", value: "3500", source: "embedded broker"),
        KafkaProperty(name: "heartbeat.interval.ms", value: "500", source: "embedded broker"),
    ]

    /// Starts `brokers` brokers and creates `topics`.
    /// - Throws: ``KafkaError/embeddedCluster(reason:)`` when the brokers cannot start, or
    ///   ``KafkaError/topic(name:reason:)`` when a topic cannot be created.
    public init(brokers: Int = 1, topics: [TopicSpecification] = []) throws(KafkaError) {
        self.cluster = try RDKafkaMockCluster(brokers: brokers)
        self.bootstrapServers = cluster.bootstrapServers
        for topic in topics {
            try createTopic(topic)
        }
    }

    /// Creates a topic (the replication factor is capped at the broker count by the mock); an
    /// existing topic is left as it is. Blocks for a few milliseconds (a mock-cluster round trip).
    /// - Throws: ``KafkaError/topic(name:reason:)``.
    public func createTopic(_ topic: TopicSpecification) throws(KafkaError) {
        try cluster.createTopic(topic)
    }

    /// Fault injection: takes a broker down (connections closed, requests refused) or back up.
    /// - Throws: ``KafkaError/embeddedCluster(reason:)`` for an unknown broker id.
    @_spi(Testing)
    public func setBroker(_ id: Int32, up: Bool) throws(KafkaError) {
        try cluster.setBroker(id, up: up)
    }
}

extension EmbeddedKafkaCluster {
    /// Fault injection: makes `broker` the leader of one partition, or leaves the partition
    /// without a leader when `broker` is nil. Produce requests for a leaderless partition wait
    /// for a leader and fail with a transient timeout after `message.timeout.ms`, while the
    /// topic's other partitions keep working, as when one broker of a real cluster is lost.
    /// - Throws: ``KafkaError/embeddedCluster(reason:)`` for an unknown topic, partition or broker.
    @_spi(Testing)
    public func setPartitionLeader(topic: String, partition: Int32, broker: Int32?) throws(KafkaError) {
        try cluster.setPartitionLeader(topic: topic, partition: partition, broker: broker)
    }
}
