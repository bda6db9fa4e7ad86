import CRdKafka
import Foundation
import Logging

/// librdkafka's mock cluster: real Kafka-protocol brokers listening on 127.0.0.1, in this
/// process, with consumer groups and idempotent producers. For development and tests only: it
/// keeps everything in memory, and each partition keeps only about 5 MB (older records are
/// purged like retention).
///
/// The brokers run on librdkafka's own threads and live until the cluster is deinitialised.
public final class EmbeddedKafkaCluster: Sendable {
    /// The bootstrap list to hand to clients (`KAFKA_BROKERS`).
    public let bootstrapServers: String
    private let cluster: Cluster

    /// `@unchecked Sendable`: the pointers are immutable, and librdkafka's mock API is safe to
    /// call from any thread (it posts operations to the cluster's own thread).
    private final class Cluster: @unchecked Sendable {
        let handle: OpaquePointer
        let mock: OpaquePointer

        init(handle: OpaquePointer, mock: OpaquePointer) {
            self.handle = handle
            self.mock = mock
        }

        deinit {
            rd_kafka_mock_cluster_destroy(mock)
            rd_kafka_destroy(handle)
        }
    }

    /// Client properties that suit the mock cluster and only it, for every client of an embedded
    /// broker (orderd passes them to its services as `KAFKA_*`).
    ///
    /// The mock answers a fetch that finds no data only after the full `fetch.wait.max.ms`
    /// (librdkafka's default 500 ms), even when data arrives meanwhile, so each hop would cost up
    /// to that wait; a real broker answers as soon as `fetch.min.bytes` arrive, and there a short
    /// wait only adds fetch requests. `fetch.error.backoff.ms` (default 500 ms) is the pause after
    /// a fetch error such as a partition the mock has not created yet.
    public static let lowLatencyProperties: [KafkaProperty] = [
        KafkaProperty(name: "fetch.wait.max.ms", value: "5", source: "embedded broker"),
        KafkaProperty(name: "fetch.error.backoff.ms", value: "10", source: "embedded broker"),
    ]

    /// Starts `brokers` brokers and creates `topics`.
    public init(brokers: Int = 1, topics: [TopicSpecification] = []) throws(KafkaError) {
        let conf = rd_kafka_conf_new()
        var errstr = [CChar](repeating: 0, count: 512)
        // The owning handle never connects anywhere; keep it quiet.
        _ = rd_kafka_conf_set(conf, "log_level", "0", &errstr, errstr.count)
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw .embeddedCluster(reason: String(errorBuffer: errstr))
        }
        guard let mock = rd_kafka_mock_cluster_new(handle, Int32(brokers)) else {
            rd_kafka_destroy(handle)
            throw .embeddedCluster(reason: "could not start \(brokers) mock brokers")
        }
        self.cluster = Cluster(handle: handle, mock: mock)
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mock))
        for topic in topics {
            try createTopic(topic)
        }
    }

    /// Creates a topic (the replication factor is capped at the broker count by the mock).
    public func createTopic(_ topic: TopicSpecification) throws(KafkaError) {
        let err = operation {
            rd_kafka_mock_topic_create(cluster.mock, topic.name, Int32(topic.partitions), Int32(max(topic.replicationFactor, 1)))
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else {
            throw .topic(name: topic.name, reason: KafkaError.text(err))
        }
    }

    /// Runs one mock-cluster call, then pauses 2 ms before the next may start.
    ///
    /// Each call posts an operation to the cluster's thread and waits for its reply. librdkafka
    /// 2.0.2's cluster thread serves operations and only then drains its wake-up pipe, so an
    /// operation posted in between (the next of a sequence, right after the previous reply)
    /// loses its wake-up and waits for the thread's 1 s poll timeout; creating the platform's
    /// 20 topics took up to 3 s that way instead of 40 ms. The pause lets the thread drain the
    /// pipe first.
    func operation(_ call: () -> rd_kafka_resp_err_t) -> rd_kafka_resp_err_t {
        let result = call()
        usleep(2_000)
        return result
    }

    /// Fault injection: takes a broker down (connections closed, requests refused) or back up.
    public func setBroker(_ id: Int32, up: Bool) throws(KafkaError) {
        let err = operation { up ? rd_kafka_mock_broker_set_up(cluster.mock, id) : rd_kafka_mock_broker_set_down(cluster.mock, id) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw .embeddedCluster(reason: "broker \(id): \(KafkaError.text(err))")
        }
    }
}

extension EmbeddedKafkaCluster {
    /// Fault injection: makes `broker` the leader of one partition, or leaves the partition
    /// without a leader when `broker` is nil. Produce requests for a leaderless partition wait
    /// for a leader and fail with a transient timeout after `message.timeout.ms`, while the
    /// topic's other partitions keep working, as when one broker of a real cluster is lost.
    public func setPartitionLeader(topic: String, partition: Int32, broker: Int32?) throws(KafkaError) {
        let err = operation { rd_kafka_mock_partition_set_leader(cluster.mock, topic, partition, broker ?? -1) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw .embeddedCluster(reason: "leader of \(topic)[\(partition)]: \(KafkaError.text(err))")
        }
    }
}
