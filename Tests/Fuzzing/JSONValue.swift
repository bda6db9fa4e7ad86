/// A JSON document as it was written: objects keep every member in order, a repeated key
/// included, and numbers keep their text. What the structure-aware mutations edit, and the
/// reference reading (strict RFC 8259) that properties compare a parser against.
public indirect enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// The compact text: strings escape `"`, `\` and control characters, nothing else.
    public var rendered: [UInt8] {
        var out: [UInt8] = []
        render(into: &out)
        return out
    }

    /// The path of the first key (in document order) that an object repeats, written as
    /// `amount`, `customer.email` or `items[1].sku`; nil when no object repeats a key. Keys are
    /// compared as JSON compares them, by code points (`"é"` and `"e\u0301"` differ).
    public var firstRepeatedKeyPath: String? {
        firstRepeatedKey(under: "")
    }

    private func firstRepeatedKey(under path: String) -> String? {
        switch self {
        case .object(let members):
            var seen: Set<[Unicode.Scalar]> = []
            for member in members {
                let memberPath = path.isEmpty ? member.key : "\(path).\(member.key)"
                guard seen.insert(Array(member.key.unicodeScalars)).inserted else { return memberPath }
                if let repeated = member.value.firstRepeatedKey(under: memberPath) { return repeated }
            }
            return nil
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                if let repeated = element.firstRepeatedKey(under: "\(path)[\(index)]") { return repeated }
            }
            return nil
        case .null, .bool, .number, .string:
            return nil
        }
    }

    private func render(into out: inout [UInt8]) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let value): out += Array((value ? "true" : "false").utf8)
        case .number(let text): out += Array(text.utf8)
        case .string(let text): Self.renderString(text, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                element.render(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.renderString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                member.value.render(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func renderString(_ text: String, into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), byte]
            case 0..<0x20: out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// One `"key": value` of an object.
public struct JSONMember: Hashable, Sendable {
    public var key: String
    public var value: JSONValue

    public init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }
}
