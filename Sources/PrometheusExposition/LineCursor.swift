/// A read position inside one trimmed line of the input. Internal to the parser.
struct LineCursor {
    let bytes: [UInt8]
    private(set) var position: Int
    let end: Int
    let lineNumber: Int

    init(bytes: [UInt8], start: Int, end: Int, lineNumber: Int) {
        self.bytes = bytes
        self.position = start
        self.end = end
        self.lineNumber = lineNumber
    }

    var isAtEnd: Bool { position >= end }

    /// The byte at the read position, `nil` at the end of the line.
    var current: UInt8? { isAtEnd ? nil : bytes[position] }

    mutating func advance() {
        position += 1
    }

    func error(_ reason: String) -> ExpositionError {
        ExpositionError(line: lineNumber, reason: reason)
    }

    /// Skips spaces and tabs; returns whether at least one was skipped.
    @discardableResult
    mutating func skipBlanks() -> Bool {
        let start = position
        while let byte = current, ASCII.isBlank(byte) { advance() }
        return position > start
    }

    /// Reads everything up to the next blank or the end of the line.
    mutating func readToken() -> String {
        let start = position
        while let byte = current, !ASCII.isBlank(byte) { advance() }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// Reads `[a-zA-Z_:][a-zA-Z0-9_:]*`, or returns `nil` (consuming nothing) if none starts here.
    mutating func readMetricName() -> String? {
        readName(ASCII.isMetricNameByte)
    }

    /// Reads `[a-zA-Z_][a-zA-Z0-9_]*`, or returns `nil` (consuming nothing) if none starts here.
    mutating func readLabelName() -> String? {
        readName(ASCII.isLabelNameByte)
    }

    private mutating func readName(_ accepts: (UInt8, Bool) -> Bool) -> String? {
        let start = position
        while let byte = current, accepts(byte, position == start) { advance() }
        guard position > start else { return nil }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// Reads the rest of the line, resolving the HELP escapes `\\` and `\n`. Any other
    /// backslash (including a trailing one) is kept literally.
    mutating func readHelpText() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(end - position)
        while let byte = current {
            advance()
            if byte == ASCII.backslash, let next = current, next == ASCII.backslash || next == ASCII.letterN {
                advance()
                out.append(next == ASCII.letterN ? ASCII.newline : ASCII.backslash)
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads a label value after its opening quote, up to and including the closing quote,
    /// resolving `\\`, `\"` and `\n`. Other escapes are kept literally (backslash included),
    /// as the Prometheus server does.
    mutating func readQuotedLabelValue(labelName: String) throws(ExpositionError) -> String {
        var out: [UInt8] = []
        while let byte = current {
            advance()
            switch byte {
            case ASCII.quote:
                return String(decoding: out, as: UTF8.self)
            case ASCII.backslash:
                guard let next = current else { break }
                advance()
                switch next {
                case ASCII.backslash: out.append(ASCII.backslash)
                case ASCII.quote: out.append(ASCII.quote)
                case ASCII.letterN: out.append(ASCII.newline)
                default: out.append(contentsOf: [ASCII.backslash, next])
                }
            default:
                out.append(byte)
            }
        }
        throw error("unterminated value of label \"\(labelName)\"")
    }
}
