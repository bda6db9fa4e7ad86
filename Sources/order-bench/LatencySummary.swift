import Histogram

/// Percentiles of one latency histogram, in milliseconds (JSON: `{count, p50, p90, p99, p999, max}`).
struct LatencySummary: Codable, Sendable, Hashable {
    var count: UInt64
    var p50: Double
    var p90: Double
    var p99: Double
    var p999: Double
    var max: Double

    init(_ histogram: Histogram<UInt64>) {
        func milliseconds(_ microseconds: UInt64) -> Double { Double(microseconds) / 1000 }
        count = histogram.totalCount
        p50 = milliseconds(histogram.valueAtPercentile(50))
        p90 = milliseconds(histogram.valueAtPercentile(90))
        p99 = milliseconds(histogram.valueAtPercentile(99))
        p999 = milliseconds(histogram.valueAtPercentile(99.9))
        max = milliseconds(histogram.count == 0 ? 0 : histogram.max)
    }
}

extension Histogram<UInt64> {
    /// Microseconds from 1 µs to one hour at three significant digits (0.1 % error).
    static func latency() -> Histogram<UInt64> {
        Histogram(
            lowestDiscernibleValue: 1,
            highestTrackableValue: highestLatency,
            numberOfSignificantValueDigits: .three
        )
    }

    static var highestLatency: UInt64 { 3_600_000_000 }

    /// Records `duration`, clamped to the trackable range so an absurd value cannot be dropped.
    mutating func record(_ duration: Duration) {
        _ = record(Swift.min(Swift.max(duration.wholeMicroseconds, 1), Self.highestLatency))
    }

    var count: UInt64 { totalCount }
}
