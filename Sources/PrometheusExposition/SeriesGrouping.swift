/// Keeps the samples of one histogram/summary series together. Internal.
enum SeriesGrouping {
    /// Stable regrouping: series appear in order of their first sample, each series' samples
    /// keep their relative order (so bucket order is preserved). A series is identified by
    /// its labels without `le` (on `_bucket` samples) or `quantile` (on summary quantile
    /// samples). Other family types are returned unchanged. Input that already lists each
    /// series contiguously is returned unchanged.
    static func grouped(_ family: MetricFamily) -> [Sample] {
        let ignoredLabel: (String, String)
        switch family.type {
        case .histogram: ignoredLabel = (family.name + "_bucket", "le")
        case .summary: ignoredLabel = (family.name, "quantile")
        case .counter, .gauge, .untyped: return family.samples
        }
        var order: [[Label]] = []
        var groups: [[Label]: [Sample]] = [:]
        for sample in family.samples {
            var key = sample.labels
            if sample.name == ignoredLabel.0 {
                key.removeAll { $0.name == ignoredLabel.1 }
            }
            key.sort { ($0.name, $0.value) < ($1.name, $1.value) }
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(sample)
        }
        return order.flatMap { groups[$0] ?? [] }
    }
}
