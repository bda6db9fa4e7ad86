import PrometheusExposition
import Testing

struct MalformedInput: Sendable, CustomTestStringConvertible {
    var text: String
    var line: Int
    var reason: String
    var testDescription: String { reason }
}

@Suite("Parser: errors")
struct ParserErrorTests {
    static let cases: [MalformedInput] = [
        MalformedInput(
            text: "ok 1\n9lives 1",
            line: 2,
            reason: "expected a metric name or '#' at the start of the line"
        ),
        MalformedInput(text: "{a=\"b\"} 1", line: 1, reason: "expected a metric name or '#' at the start of the line"),
        MalformedInput(text: "foo-bar 1", line: 1, reason: "unexpected character after metric name foo"),
        MalformedInput(text: "\n\nm", line: 3, reason: "missing value for sample m"),
        MalformedInput(text: "m{a=\"b\"}", line: 1, reason: "missing value for sample m"),
        MalformedInput(text: "m one", line: 1, reason: "invalid value \"one\" for sample m"),
        MalformedInput(text: "m 1_000", line: 1, reason: "invalid value \"1_000\" for sample m"),
        MalformedInput(text: "m 1 12.5", line: 1, reason: "invalid timestamp \"12.5\" for sample m"),
        MalformedInput(text: "m 1 12 extra", line: 1, reason: "unexpected text after timestamp of sample m"),
        MalformedInput(text: "m{a=\"b} 1", line: 1, reason: "unterminated value of label \"a\""),
        MalformedInput(text: "m{a=\"b\\\"} 1", line: 1, reason: "unterminated value of label \"a\""),
        MalformedInput(text: "m{a=\"b\" 1", line: 1, reason: "expected ',' or '}' after the value of label a"),
        MalformedInput(text: "m{a=\"b\"", line: 1, reason: "unterminated label set"),
        MalformedInput(text: "m{a=\"b\",", line: 1, reason: "unterminated label set"),
        MalformedInput(text: "m{a=\"1\" b=\"2\"} 1", line: 1, reason: "expected ',' or '}' after the value of label a"),
        MalformedInput(text: "m{a b=\"1\"} 1", line: 1, reason: "expected '=' after label name a"),
        MalformedInput(text: "m{a=b} 1", line: 1, reason: "expected '\"' to open the value of label a"),
        MalformedInput(text: "m{,a=\"1\"} 1", line: 1, reason: "invalid label name"),
        MalformedInput(text: "m{1a=\"1\"} 1", line: 1, reason: "invalid label name"),
        MalformedInput(text: "m{a:b=\"1\"} 1", line: 1, reason: "expected '=' after label name a"),
        MalformedInput(text: "m{a=\"1\",a=\"2\"} 1", line: 1, reason: "duplicate label a"),
        MalformedInput(text: "m{__name__=\"x\"} 1", line: 1, reason: "label name __name__ is reserved"),
        MalformedInput(
            text: "{\"utf8.name\"} 1",
            line: 1,
            reason: "expected a metric name or '#' at the start of the line"
        ),
        MalformedInput(text: "# HELP", line: 1, reason: "missing or invalid metric name in HELP line"),
        MalformedInput(text: "# TYPE 1m counter", line: 1, reason: "missing or invalid metric name in TYPE line"),
        MalformedInput(text: "# HELP m-x text", line: 1, reason: "invalid metric name in HELP line"),
        MalformedInput(text: "# TYPE m", line: 1, reason: "missing type in TYPE line for m"),
        MalformedInput(text: "# TYPE m timer", line: 1, reason: "unknown metric type \"timer\" for m"),
        MalformedInput(text: "# TYPE m gauge extra", line: 1, reason: "unexpected text after type in TYPE line for m"),
        MalformedInput(text: "# HELP m a\n# HELP m b", line: 2, reason: "second HELP line for m"),
        MalformedInput(text: "# TYPE m gauge\n# TYPE m counter", line: 2, reason: "second TYPE line for m"),
        MalformedInput(text: "m 1\n# TYPE m gauge", line: 2, reason: "TYPE line for m after its samples"),
        MalformedInput(
            text: "# TYPE h histogram\nh_bucket 1",
            line: 2,
            reason: "histogram bucket h_bucket has no le label"
        ),
        MalformedInput(
            text: "# TYPE h histogram\nh_bucket{le=\"big\"} 1",
            line: 2,
            reason: "invalid le value \"big\" in h_bucket"
        ),
        MalformedInput(
            text: "# TYPE h histogram\nh 1",
            line: 2,
            reason: "sample h of histogram h must end in _bucket, _sum, _count or _created"
        ),
        MalformedInput(text: "# TYPE s summary\ns 1", line: 2, reason: "summary sample s has no quantile label"),
        MalformedInput(
            text: "# TYPE s summary\ns{quantile=\"p99\"} 1",
            line: 2,
            reason: "invalid quantile value \"p99\" in s"
        ),
    ]

    @Test(arguments: cases)
    func reportsLineAndReason(_ input: MalformedInput) {
        let error = #expect(throws: ExpositionError.self) { try ExpositionParser.parse(input.text) }
        #expect(error == ExpositionError(line: input.line, reason: input.reason))
    }

    @Test func descriptionNamesTheLine() {
        #expect(
            ExpositionError(line: 12, reason: "missing value for sample m").description
                == "line 12: missing value for sample m"
        )
    }

    @Test func lineNumbersCountBlankAndCRLFLines() {
        let error = #expect(throws: ExpositionError.self) {
            try ExpositionParser.parse("# TYPE a gauge\r\n\r\na 1\r\n\r\na{x=\"unterminated} 2\r\n")
        }
        #expect(error?.line == 5)
    }

    @Test func firstErrorWins() {
        let error = #expect(throws: ExpositionError.self) { try ExpositionParser.parse("a x\nb y\n") }
        #expect(error?.line == 1)
    }
}
