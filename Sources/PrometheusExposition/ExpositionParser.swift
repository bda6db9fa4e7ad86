/// Parser for the Prometheus text exposition format, version 0.0.4.
///
/// Accepted input:
/// - `# HELP name text` (text escapes `\\` and `\n`; other backslashes are kept literally),
///   `# TYPE name counter|gauge|histogram|summary|untyped` (type keyword case-insensitive);
///   any other line starting with `#` is a comment and ignored;
/// - sample lines `name{label="value",...} value [timestamp]`, where label values escape
///   `\\`, `\"` and `\n` and may contain `}`, `,`, `=`, `#` and blanks; blanks (space, tab)
///   may surround every token and a trailing comma may close the label set;
/// - blank lines anywhere, leading/trailing whitespace on any line, `\r\n` line ends and a
///   missing final newline.
///
/// Family attribution: a sample belongs to the family of the latest HELP/TYPE/sample line if
/// its name is that family's name (or, for histograms and summaries, the name plus
/// `_bucket`/`_sum`/`_count`/`_created`, as allowed by the type); otherwise to the family of
/// the same name; otherwise to a histogram/summary family it is a member of; otherwise it
/// starts a new ``MetricType/untyped`` family. Samples of one family that are split across
/// the input are gathered into that family.
///
/// Guarantees: families come out in order of first appearance with unique names, samples in
/// input order; values and timestamps keep their original text.
///
/// Failure modes (first error wins, thrown as ``ExpositionError`` with its 1-based line):
/// invalid metric or label names, malformed label sets (missing `=`/quotes, unterminated
/// values or braces), duplicate label names or `__name__`, a missing value or one Prometheus
/// does not read as a float (hex, `nan(…)`, out of `Double`'s range),
/// a non-integer timestamp, trailing garbage, unknown types, a second HELP or TYPE line for
/// a family, a TYPE line after the family's samples, histogram buckets without a numeric
/// `le`, summary quantile samples without a numeric `quantile`, and a histogram sample named
/// exactly like its family. UTF-8 quoted metric names (Prometheus 3 / OpenMetrics 2) are not
/// part of 0.0.4 and are rejected.
public enum ExpositionParser {
    public static func parse(_ text: String) throws(ExpositionError) -> [MetricFamily] {
        let bytes = Array(text.utf8)
        var assembler = FamilyAssembler()
        var lineStart = 0
        var lineNumber = 0
        while lineStart <= bytes.count {
            lineNumber += 1
            let lineEnd = bytes[lineStart...].firstIndex(of: ASCII.newline) ?? bytes.count
            defer { lineStart = lineEnd + 1 }
            var start = lineStart
            var end = lineEnd
            while start < end, ASCII.isLineWhitespace(bytes[start]) { start += 1 }
            while end > start, ASCII.isLineWhitespace(bytes[end - 1]) { end -= 1 }
            guard start < end else { continue }

            var cursor = LineCursor(bytes: bytes, start: start, end: end, lineNumber: lineNumber)
            switch try LineParser.parse(&cursor) {
            case .help(let name, let help):
                try assembler.help(name: name, text: help, line: lineNumber)
            case .type(let name, let type):
                try assembler.type(name: name, type: type, line: lineNumber)
            case .sample(let sample):
                try assembler.sample(sample, line: lineNumber)
            case .comment:
                break
            }
        }
        return assembler.families
    }
}
