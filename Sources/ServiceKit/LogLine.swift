import Logging
import OrderEvents
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Renders one log event as one line of UTF-8:
/// `<timestamp> <level> <label>: <message> key=value …`, metadata sorted by key.
///
/// It runs for every event on the logging thread, so it builds straight into one byte array and
/// avoids Foundation's date formatting (see ``Timestamp/append(millisecondsSinceEpoch:to:)``).
enum LogLine {
    /// The line for an event, newline included. Control characters and backslashes in `message`,
    /// keys and values are escaped, so the result contains exactly one newline (the last byte) and
    /// every `\` in it starts an escape.
    static func render(
        millisecondsSinceEpoch: Int64,
        level: Logger.Level,
        label: String,
        message: String,
        metadata: Logger.Metadata
    ) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(96 + label.utf8.count + message.utf8.count + 48 * metadata.count)
        appendTimestamp(millisecondsSinceEpoch: millisecondsSinceEpoch, to: &line)
        line.append(.space)
        line.append(contentsOf: level.rawValue.utf8)
        line.append(.space)
        appendEscaped(label, to: &line)
        line.append(.colon)
        line.append(.space)
        appendEscaped(message, to: &line)
        if !metadata.isEmpty {
            for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
                line.append(.space)
                appendEscaped(key, to: &line)
                line.append(.equals)
                appendValue(value, to: &line)
            }
        }
        line.append(.newline)
        return line
    }

    /// Milliseconds since the Unix epoch, from the real-time clock (a vDSO call, not a syscall).
    static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }

    /// `2026-11-26T01:16:08.123Z`, as in every event and API answer.
    static func appendTimestamp(millisecondsSinceEpoch milliseconds: Int64, to line: inout [UInt8]) {
        Timestamp.append(millisecondsSinceEpoch: milliseconds, to: &line)
    }

    /// A metadata value as before: quoted when empty or when it holds a space, `"` or `=`, with
    /// `"` then written `\"`; control characters and `\` escaped in every case, so a value cannot
    /// end its quotes early and forge a key (`x\" role=admin` is written `"x\\\" role=admin"`).
    static func appendValue(_ value: Logger.MetadataValue, to line: inout [UInt8]) {
        let text: String
        if case .string(let string) = value { text = string } else { text = value.description }
        withUTF8(text) { bytes in
            let quoted = bytes.isEmpty || bytes.contains { $0 == .space || $0 == .quote || $0 == .equals }
            if quoted { line.append(.quote) }
            appendEscaped(bytes, escapingQuotes: quoted, to: &line)
            if quoted { line.append(.quote) }
        }
    }

    /// Appends `text` with every character that could end or rewrite a line escaped: U+0000–U+001F,
    /// U+007F, the C1 controls U+0080–U+009F (U+0085 is a newline to some readers), U+2028 and
    /// U+2029. `\n`, `\r` and `\t` keep their usual spelling; the rest become `\u{XX}`. A backslash
    /// becomes `\\`, so the text `\n` (written `\\n`) is never mistaken for an escaped newline.
    static func appendEscaped(_ text: String, to line: inout [UInt8]) {
        withUTF8(text) { appendEscaped($0, escapingQuotes: false, to: &line) }
    }

    /// One pass: runs of bytes that need nothing (nearly all of them) are copied in bulk.
    private static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, escapingQuotes: Bool, to line: inout [UInt8])
    {
        var copied = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard
                byte < 0x20 || byte == 0x7F || byte == 0xC2 || byte == 0xE2 || byte == .backslash
                    || (byte == .quote && escapingQuotes)
            else {
                index += 1
                continue
            }
            let next = index + 1 < bytes.count ? bytes[index + 1] : 0
            let third = index + 2 < bytes.count ? bytes[index + 2] : 0
            let escape: (scalar: UInt32, length: Int)?
            if byte < 0x20 || byte == 0x7F {
                escape = (UInt32(byte), 1)
            } else if byte == 0xC2, (0x80...0x9F).contains(next) {
                escape = (UInt32(next), 2)
            } else if byte == 0xE2, next == 0x80, third == 0xA8 || third == 0xA9 {
                escape = (0x2028 + UInt32(third - 0xA8), 3)
            } else {
                escape = nil  // a backslash or quote to escape, or the lead byte of a harmless character
            }
            guard escape != nil || byte == .quote || byte == .backslash else {
                index += 1
                continue
            }
            line.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[copied..<index]))
            if let escape {
                appendEscape(of: escape.scalar, to: &line)
                index += escape.length
            } else {
                line.append(.backslash)
                line.append(byte)
                index += 1
            }
            copied = index
        }
        line.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[copied..<bytes.count]))
    }

    private static func withUTF8(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        if text.utf8.withContiguousStorageIfAvailable(body) == nil {
            var contiguous = text
            contiguous.withUTF8(body)
        }
    }

    private static func appendEscape(of scalar: UInt32, to line: inout [UInt8]) {
        line.append(.backslash)
        switch scalar {
        case 0x0A: line.append(UInt8(ascii: "n"))
        case 0x0D: line.append(UInt8(ascii: "r"))
        case 0x09: line.append(UInt8(ascii: "t"))
        default:
            line.append(contentsOf: "u{".utf8)
            let digits = scalar > 0xFF ? 4 : 2
            for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
                line.append(hexDigits[Int(scalar >> UInt32(shift) & 0xF)])
            }
            line.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)
}

extension UInt8 {
    fileprivate static let space = UInt8(ascii: " ")
    fileprivate static let quote = UInt8(ascii: "\"")
    fileprivate static let equals = UInt8(ascii: "=")
    fileprivate static let colon = UInt8(ascii: ":")
    fileprivate static let backslash = UInt8(ascii: "\\")
    fileprivate static let newline = UInt8(ascii: "\n")
}
