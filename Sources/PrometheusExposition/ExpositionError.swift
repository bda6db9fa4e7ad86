/// A syntax or consistency error found by ``ExpositionParser/parse(_:)``.
///
/// The parser stops at the first error; no partial result is returned.
public struct ExpositionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The 1-based number of the offending line (lines are separated by `\n`).
    public var line: Int
    /// A human-readable explanation, e.g. `unterminated value of label "topic"`.
    public var reason: String

    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }

    /// `line <n>: <reason>`.
    public var description: String {
        "line \(line): \(reason)"
    }
}
