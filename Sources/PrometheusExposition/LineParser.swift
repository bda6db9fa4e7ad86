/// What one non-blank line of the input means.
enum ParsedLine {
    case help(name: String, text: String)
    case type(name: String, type: MetricType)
    case sample(Sample)
    case comment
}

/// Syntax of single lines; knows nothing about families. Internal to the parser.
enum LineParser {
    /// Parses one line that has already been trimmed and is not empty.
    static func parse(_ cursor: inout LineCursor) throws(ExpositionError) -> ParsedLine {
        if cursor.current == ASCII.hash {
            cursor.advance()
            return try parseCommentLine(&cursor)
        }
        return .sample(try parseSampleLine(&cursor))
    }

    /// `# HELP name text`, `# TYPE name type`, or any other comment.
    private static func parseCommentLine(_ cursor: inout LineCursor) throws(ExpositionError) -> ParsedLine {
        cursor.skipBlanks()
        let keyword = cursor.readToken()
        guard keyword == "HELP" || keyword == "TYPE" else { return .comment }
        cursor.skipBlanks()
        guard let name = cursor.readMetricName() else {
            throw cursor.error("missing or invalid metric name in \(keyword) line")
        }
        let hadBlank = cursor.skipBlanks()
        if !cursor.isAtEnd && !hadBlank {
            throw cursor.error("invalid metric name in \(keyword) line")
        }
        if keyword == "HELP" {
            return .help(name: name, text: cursor.readHelpText())
        }
        let typeText = cursor.readToken()
        guard !typeText.isEmpty else { throw cursor.error("missing type in TYPE line for \(name)") }
        guard let type = MetricType(rawValue: typeText.lowercased()) else {
            throw cursor.error("unknown metric type \"\(typeText)\" for \(name)")
        }
        cursor.skipBlanks()
        guard cursor.isAtEnd else { throw cursor.error("unexpected text after type in TYPE line for \(name)") }
        return .type(name: name, type: type)
    }

    /// `name{label="value",...} value [timestamp]`.
    private static func parseSampleLine(_ cursor: inout LineCursor) throws(ExpositionError) -> Sample {
        guard let name = cursor.readMetricName() else {
            throw cursor.error("expected a metric name or '#' at the start of the line")
        }
        let hadBlank = cursor.skipBlanks()
        var labels: [Label] = []
        if cursor.current == ASCII.openBrace {
            cursor.advance()
            labels = try parseLabels(&cursor)
            cursor.skipBlanks()
        } else if !hadBlank && !cursor.isAtEnd {
            throw cursor.error("unexpected character after metric name \(name)")
        }
        guard !cursor.isAtEnd else { throw cursor.error("missing value for sample \(name)") }
        let value = cursor.readToken()
        guard isFloat(value) else { throw cursor.error("invalid value \"\(value)\" for sample \(name)") }
        cursor.skipBlanks()
        var timestamp: String?
        if !cursor.isAtEnd {
            let text = cursor.readToken()
            guard Int64(text) != nil else { throw cursor.error("invalid timestamp \"\(text)\" for sample \(name)") }
            timestamp = text
            cursor.skipBlanks()
            guard cursor.isAtEnd else { throw cursor.error("unexpected text after timestamp of sample \(name)") }
        }
        return Sample(name: name, labels: labels, value: value, timestamp: timestamp)
    }

    /// Whether Prometheus reads `text` as a sample value (Go's `strconv.ParseFloat` without hex
    /// floats and `_`): a decimal within the range of `Double`, `Inf` or `Infinity` with an
    /// optional sign, or `NaN`, in any case. `Double(_:)` alone would also take hex (`0x10`),
    /// `nan(…)`, a decimal that overflows (`1e309`) and text after a NUL, which Prometheus
    /// rejects, failing the whole aggregated scrape.
    static func isFloat(_ text: String) -> Bool {
        let signed = text.hasPrefix("+") || text.hasPrefix("-")
        switch text.dropFirst(signed ? 1 : 0).lowercased() {
        case "inf", "infinity": return true
        case "nan": return !signed
        default: break
        }
        let decimal = text.utf8.allSatisfy {
            ASCII.isDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E")
                || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-")
        }
        return decimal && Double(text)?.isFinite == true
    }

    /// Parses `label="value",...}` after the opening brace. Blanks are allowed around every
    /// token and a trailing comma is accepted.
    private static func parseLabels(_ cursor: inout LineCursor) throws(ExpositionError) -> [Label] {
        var labels: [Label] = []
        while true {
            cursor.skipBlanks()
            if cursor.current == ASCII.closeBrace {
                cursor.advance()
                return labels
            }
            guard let name = cursor.readLabelName() else {
                throw cursor.error(cursor.isAtEnd ? "unterminated label set" : "invalid label name")
            }
            cursor.skipBlanks()
            guard cursor.current == ASCII.equals else { throw cursor.error("expected '=' after label name \(name)") }
            cursor.advance()
            cursor.skipBlanks()
            guard cursor.current == ASCII.quote else {
                throw cursor.error("expected '\"' to open the value of label \(name)")
            }
            cursor.advance()
            let value = try cursor.readQuotedLabelValue(labelName: name)
            guard name != "__name__" else { throw cursor.error("label name __name__ is reserved") }
            guard !labels.contains(where: { $0.name == name }) else { throw cursor.error("duplicate label \(name)") }
            labels.append(Label(name: name, value: value))
            cursor.skipBlanks()
            switch cursor.current {
            case ASCII.comma: cursor.advance()
            case ASCII.closeBrace: continue
            case nil: throw cursor.error("unterminated label set")
            default: throw cursor.error("expected ',' or '}' after the value of label \(name)")
            }
        }
    }
}
