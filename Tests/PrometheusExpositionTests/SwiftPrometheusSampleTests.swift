import PrometheusExposition
import Testing

/// `Golden/swift-prometheus.order.prom` is hand-written in the exact style of
/// swift-prometheus 2.x `emit(into:)`: TYPE lines (HELP only when given), counters and
/// gauges with prerendered labels, histograms with one `_bucket` per boundary rendered via
/// `bucketRepresentation` (`0.005`, `1.0`, ...), then `le="+Inf"`, `_sum`, `_count`.
@Suite("swift-prometheus output")
struct SwiftPrometheusSampleTests {
    @Test func parsesIntoTheExpectedFamilies() throws {
        let families = try ExpositionParser.parse(try Golden.text("swift-prometheus.order"))
        #expect(
            families.map(\.name) == [
                "events_processed_total", "kafka_consumer_lag", "http_request_duration_seconds", "db_query_seconds",
            ]
        )
        #expect(families.map(\.type) == [.counter, .gauge, .histogram, .histogram])
        #expect(families.map(\.help) == [nil, "Consumer lag per partition", nil, nil])

        let events = families[0].samples
        #expect(
            events.first
                == Sample(
                    name: "events_processed_total",
                    labels: ["topic": "orders.created", "outcome": "processed"],
                    value: "3"
                )
        )

        let histogram = families[2].samples
        let buckets = histogram.filter { $0.name == "http_request_duration_seconds_bucket" }
        #expect(
            buckets.map { $0.label("le") } == [
                "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf",
            ]
        )
        #expect(buckets.allSatisfy { $0.labels.last?.name == "le" && $0.label("route") == "/orders" })
        #expect(
            histogram.suffix(2).map(\.name) == [
                "http_request_duration_seconds_sum", "http_request_duration_seconds_count",
            ]
        )
        #expect(histogram.last?.value == buckets.last?.value)
        #expect(families[1].samples.map(\.value) == ["0.0", "1e-05"])
    }
}
