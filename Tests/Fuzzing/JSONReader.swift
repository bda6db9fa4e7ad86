/// A strict RFC 8259 reader for ``JSONValue``: UTF-8 only, no byte order mark, no lone
/// surrogate escapes, nesting at most `maximumDepth` deep. Written for the properties, which
/// need a reading that keeps repeated keys; speed does not matter.
public struct JSONReader {
    private let bytes: [UInt8]
    private var index = 0
    private let maximumDepth: Int

    /// The document in `bytes`, or nil when they are not exactly one JSON value.
    public static func parse(_ bytes: [UInt8], maximumDepth: Int = 512) -> JSONValue? {
        guard String(validating: bytes, as: UTF8.self) != nil else { return nil }
        var reader = JSONReader(bytes: bytes, maximumDepth: maximumDepth)
        guard let value = reader.value(depth: 0) else { return nil }
        reader.skipWhitespace()
        return reader.index == bytes.count ? value : nil
    }

    private init(bytes: [UInt8], maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    private mutating func expect(_ word: String) -> Bool {
        let word = Array(word.utf8)
        guard bytes[index...].starts(with: word) else { return false }
        index += word.count
        return true
    }

    private mutating func value(depth: Int) -> JSONValue? {
        skipWhitespace()
        guard let byte = current, depth <= maximumDepth else { return nil }
        switch byte {
        case UInt8(ascii: "{"): return object(depth: depth)
        case UInt8(ascii: "["): return array(depth: depth)
        case UInt8(ascii: "\""): return string().map(JSONValue.string)
        case UInt8(ascii: "t"): return expect("true") ? .bool(true) : nil
        case UInt8(ascii: "f"): return expect("false") ? .bool(false) : nil
        case UInt8(ascii: "n"): return expect("null") ? .null : nil
        default: return number().map(JSONValue.number)
        }
    }

    private mutating func object(depth: Int) -> JSONValue? {
        list(closing: UInt8(ascii: "}")) { reader in
            reader.skipWhitespace()
            guard reader.current == UInt8(ascii: "\""), let key = reader.string() else { return nil }
            reader.skipWhitespace()
            guard reader.current == UInt8(ascii: ":") else { return nil }
            reader.index += 1
            return reader.value(depth: depth + 1).map { JSONMember(key, $0) }
        }.map(JSONValue.object)
    }

    private mutating func array(depth: Int) -> JSONValue? {
        list(closing: UInt8(ascii: "]")) { reader in reader.value(depth: depth + 1) }.map(JSONValue.array)
    }

    /// The comma-separated elements after an opening bracket, up to `closing`, each read by `element`.
    private mutating func list<Element>(closing: UInt8, _ element: (inout JSONReader) -> Element?) -> [Element]? {
        index += 1
        var elements: [Element] = []
        skipWhitespace()
        if current == closing {
            index += 1
            return elements
        }
        while true {
            guard let next = element(&self) else { return nil }
            elements.append(next)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case closing:
                index += 1
                return elements
            default: return nil
            }
        }
    }

    private mutating func string() -> String? {
        index += 1
        var scalars = String.UnicodeScalarView()
        var start = index
        while let byte = current {
            switch byte {
            case UInt8(ascii: "\""):
                scalars += String(decoding: bytes[start..<index], as: UTF8.self).unicodeScalars
                index += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                scalars += String(decoding: bytes[start..<index], as: UTF8.self).unicodeScalars
                index += 1
                guard let escaped = escape() else { return nil }
                scalars.append(escaped)
                start = index
            case 0..<0x20:
                return nil
            default:
                index += 1
            }
        }
        return nil
    }

    /// The character of the escape after a backslash.
    private mutating func escape() -> Unicode.Scalar? {
        guard let byte = current else { return nil }
        index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return Unicode.Scalar(byte)
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            guard let high = hex4() else { return nil }
            guard (0xD800...0xDFFF).contains(high) else { return Unicode.Scalar(high) }
            guard high < 0xDC00, expect("\\u"), let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
            return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
        default: return nil
        }
    }

    private mutating func hex4() -> UInt32? {
        guard index + 4 <= bytes.count,
            let value = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16),
            bytes[index..<index + 4].allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") })
        else { return nil }
        index += 4
        return value
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as its text.
    private mutating func number() -> String? {
        let start = index
        func digits() -> Int {
            let first = index
            while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { index += 1 }
            return index - first
        }
        if current == UInt8(ascii: "-") { index += 1 }
        let leadingZero = current == UInt8(ascii: "0")
        let whole = digits()
        guard whole > 0, !leadingZero || whole == 1 else { return nil }
        if current == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return nil }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { return nil }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }
}
