internal import CRdKafka
import Foundation

/// librdkafka's mock cluster (`rd_kafka_mock_cluster_t`) and the client handle that owns it.
///
/// Thread-safety: librdkafka's mock API may be called from any thread (it posts operations to
/// the cluster's own thread); the handles are immutable and destroyed once, in `deinit`.
final class RDKafkaMockCluster: Sendable {
    private let handle: SendableOpaquePointer
    private let mock: SendableOpaquePointer
    /// The brokers' `host:port` list.
    let bootstrapServers: String

    init(brokers: Int) throws(KafkaError) {
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
        self.handle = SendableOpaquePointer(handle)
        self.mock = SendableOpaquePointer(mock)
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mock))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(mock.pointer)
        rd_kafka_destroy(handle.pointer)
    }

    /// Creates a topic; an existing one is left alone.
    func createTopic(_ topic: TopicSpecification) throws(KafkaError) {
        let err = operation {
            rd_kafka_mock_topic_create(
                mock.pointer,
                topic.name,
                Int32(topic.partitions),
                Int32(max(topic.replicationFactor, 1))
            )
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else {
            throw .topic(name: topic.name, reason: KafkaError.text(err))
        }
    }

    func setBroker(_ id: Int32, up: Bool) throws(KafkaError) {
        let err = operation {
            up ? rd_kafka_mock_broker_set_up(mock.pointer, id) : rd_kafka_mock_broker_set_down(mock.pointer, id)
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw .embeddedCluster(reason: "broker \(id): \(KafkaError.text(err))")
        }
    }

    func setPartitionLeader(topic: String, partition: Int32, broker: Int32?) throws(KafkaError) {
        let err = operation { rd_kafka_mock_partition_set_leader(mock.pointer, topic, partition, broker ?? -1) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw .embeddedCluster(reason: "leader of \(topic)[\(partition)]: \(KafkaError.text(err))")
        }
    }

    /// Makes the next `codes.count` requests with API key `apiKey` (0: Produce) fail, in order.
    func pushRequestErrors(apiKey: Int16, codes: [Int32]) {
        let errors = codes.map { rd_kafka_resp_err_t(rawValue: $0) }
        _ = operation {
            errors.withUnsafeBufferPointer { buffer in
                rd_kafka_mock_push_request_errors_array(mock.pointer, apiKey, buffer.count, buffer.baseAddress)
            }
            return RD_KAFKA_RESP_ERR_NO_ERROR
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
    private func operation(_ call: () -> rd_kafka_resp_err_t) -> rd_kafka_resp_err_t {
        let result = call()
        usleep(2_000)
        return result
    }
}
