/// Byte constants and character classes of the text format (all ASCII).
enum ASCII {
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let hash = UInt8(ascii: "#")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "=")
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let letterN = UInt8(ascii: "n")

    /// Separator between tokens: space or tab.
    static func isBlank(_ byte: UInt8) -> Bool {
        byte == space || byte == tab
    }

    /// Whitespace trimmed from both ends of every line (also makes CRLF input work).
    static func isLineWhitespace(_ byte: UInt8) -> Bool {
        byte == space || byte == tab || byte == carriageReturn
    }

    static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// `[a-zA-Z_:]` starts a metric name, `[a-zA-Z0-9_:]` continues it.
    static func isMetricNameByte(_ byte: UInt8, first: Bool) -> Bool {
        isLetter(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":") || (!first && isDigit(byte))
    }

    /// `[a-zA-Z_]` starts a label name, `[a-zA-Z0-9_]` continues it.
    static func isLabelNameByte(_ byte: UInt8, first: Bool) -> Bool {
        isLetter(byte) || byte == UInt8(ascii: "_") || (!first && isDigit(byte))
    }
}
