import Foundation
import Metrics

/// Turns librdkafka's statistics JSON into metrics:
///
/// - `kafka_consumer_lag{client,topic,partition}`: messages between the committed/stored
///   position and the high watermark, per assigned partition (consumers only).
/// - `kafka_client_queue_messages{client}`: messages waiting in the client's queues.
/// - `kafka_broker_rtt_seconds{client,broker}`: average request round trip per broker.
///
/// Called on librdkafka's thread; swift-metrics handlers are thread-safe.
public struct KafkaStatisticsRecorder: Sendable {
    /// The `client` label of every metric recorded.
    public let client: String

    /// A recorder labelling its metrics with `client`.
    public init(client: String) {
        self.client = client
    }

    func record(json data: Data) {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return }
        if let count = root["msg_cnt"] as? Int {
            Gauge(label: "kafka_client_queue_messages", dimensions: [("client", client)]).record(count)
        }
        if let brokers = root["brokers"] as? [String: Any] {
            for (name, value) in brokers {
                guard let broker = value as? [String: Any], let nodeId = broker["nodeid"] as? Int, nodeId >= 0,
                    let rtt = broker["rtt"] as? [String: Any], let avg = rtt["avg"] as? Int, avg > 0
                else { continue }
                Gauge(label: "kafka_broker_rtt_seconds", dimensions: [("client", client), ("broker", name)])
                    .record(Double(avg) / 1_000_000)
            }
        }
        guard let topics = root["topics"] as? [String: Any] else { return }
        for (topic, value) in topics {
            guard let partitions = (value as? [String: Any])?["partitions"] as? [String: Any] else { continue }
            for (partition, value) in partitions where partition != "-1" {
                guard let stats = value as? [String: Any], let lag = stats["consumer_lag"] as? Int, lag >= 0,
                    (stats["fetch_state"] as? String) == "active"
                else { continue }
                Gauge(
                    label: "kafka_consumer_lag",
                    dimensions: [("client", client), ("topic", topic), ("partition", partition)]
                ).record(lag)
            }
        }
    }
}
