/// All samples that share one `# HELP` / `# TYPE` declaration.
///
/// For histograms the family ``name`` is the base name (`http_duration_seconds`) while
/// its samples are named `<name>_bucket`, `<name>_sum`, `<name>_count` (and optionally
/// `<name>_created`); summaries likewise use `<name>`, `<name>_sum`, `<name>_count` and
/// `<name>_created`. Counters, gauges and untyped families only contain samples named
/// exactly ``name``.
public struct MetricFamily: Sendable, Hashable {
    /// The family name as written in `# HELP`/`# TYPE`, or the sample name for an
    /// implicitly created untyped family.
    public var name: String
    /// The unescaped `# HELP` text; `nil` when the input had no `# HELP` line for the family
    /// (an empty `# HELP name` line gives `""`).
    public var help: String?
    /// The declared type, ``MetricType/untyped`` when no `# TYPE` line was given.
    public var type: MetricType
    /// The samples in input order.
    public var samples: [Sample]

    public init(name: String, help: String? = nil, type: MetricType, samples: [Sample] = []) {
        self.name = name
        self.help = help
        self.type = type
        self.samples = samples
    }
}
