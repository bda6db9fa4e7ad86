/// The type of a metric family, as declared by a `# TYPE` line of the Prometheus text
/// exposition format 0.0.4.
///
/// The raw value is the lowercase keyword used in `# TYPE` lines. A family whose samples
/// appear without a preceding `# TYPE` line is ``untyped``.
public enum MetricType: String, Sendable, Hashable, CaseIterable {
    case counter
    case gauge
    case histogram
    case summary
    case untyped
}

extension MetricType {
    /// Sample-name suffixes that, appended to the family name, still belong to a family of
    /// this type (`_bucket`, `_sum`, `_count`, `_created` for histograms; `_sum`, `_count`,
    /// `_created` for summaries; none for the other types).
    var memberSuffixes: [String] {
        switch self {
        case .histogram: ["_bucket", "_sum", "_count", "_created"]
        case .summary: ["_sum", "_count", "_created"]
        case .counter, .gauge, .untyped: []
        }
    }
}
