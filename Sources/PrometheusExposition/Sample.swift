/// One label of a sample: a name and its (unescaped) value.
public struct Label: Sendable, Hashable {
    /// The label name, e.g. `topic`. Not validated when built by hand.
    public var name: String
    /// The label value with escape sequences already resolved (a real `"` rather than `\"`).
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public init(_ name: String, _ value: String) {
        self.init(name: name, value: value)
    }
}

/// One sample line: `name{label="value",...} value [timestamp]`.
///
/// Guarantees for samples produced by ``ExpositionParser``:
/// - ``labels`` keep the order in which they were written, hold no duplicate names and
///   never contain `__name__`;
/// - ``value`` is the exact original text (`1e+06`, `+Inf`, `NaN`, `-0` stay as written)
///   and is accepted by `Double(_:)`;
/// - ``timestamp``, when present, is the exact original text and is accepted by `Int64(_:)`
///   (milliseconds since the epoch).
public struct Sample: Sendable, Hashable {
    /// The full sample name, including any `_bucket`/`_sum`/`_count`/`_created` suffix.
    public var name: String
    /// The labels, in their original order.
    public var labels: [Label]
    /// The original value text, kept verbatim so that no precision or spelling is lost.
    public var value: String
    /// The original timestamp text, if the line had one.
    public var timestamp: String?

    public init(name: String, labels: [Label] = [], value: String, timestamp: String? = nil) {
        self.name = name
        self.labels = labels
        self.value = value
        self.timestamp = timestamp
    }

    /// Convenience for literals: `Sample(name: "x", labels: ["topic": "orders"], value: "1")`.
    public init(name: String, labels: KeyValuePairs<String, String>, value: String, timestamp: String? = nil) {
        self.init(
            name: name,
            labels: labels.map { Label(name: $0.key, value: $0.value) },
            value: value,
            timestamp: timestamp
        )
    }

    /// The value of the first label called `name`, or `nil` if there is none.
    public func label(_ name: String) -> String? {
        labels.first { $0.name == name }?.value
    }

    /// ``value`` as a `Double`, or `nil` if the text is not a number (never `nil` for parsed samples).
    public var doubleValue: Double? {
        Double(value)
    }
}
