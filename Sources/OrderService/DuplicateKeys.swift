import Foundation

/// The path (`amount`, `customer.email`, `items[1].sku`) of the first key that appears twice in
/// one object of `json`, which should be valid UTF-8 JSON; nil when no object repeats a key.
/// Never traps: on bytes that are not (unbalanced brackets, an unterminated string) it reads
/// what it can and stops.
///
/// Foundation's decoders keep one of the values of a repeated key without saying so. A body with
/// `"amount"` twice means two different orders to two readers (a proxy that keeps the last value,
/// this service the first), so the order API refuses it instead of choosing.
///
/// Hand-written because no decoder in the dependency graph reports duplicates; it is a single
/// pass over bytes that JSONSerialization has already accepted as UTF-8.
func firstDuplicateKey(in json: [UInt8]) -> String? {
    var frames: [DuplicateKeyScan.Frame] = []
    var index = 0
    while index < json.count {
        let byte = json[index]
        switch byte {
        case UInt8(ascii: "\""):
            let start = index
            index += 1
            while index < json.count, json[index] != UInt8(ascii: "\"") {
                index += json[index] == UInt8(ascii: "\\") ? 2 : 1
            }
            guard index < json.count else { return nil }
            guard case .object(var keys, expectingKey: true, _) = frames.last else { break }
            let key = DuplicateKeyScan.string(json[start...index])
            // By code points, as JSON compares keys: `String` equality would take "é" and "e\u0301"
            // (canonically equivalent) for one key.
            guard keys.insert(Array(key.unicodeScalars)).inserted else { return DuplicateKeyScan.path(frames, key) }
            frames[frames.count - 1] = .object(keys, expectingKey: false, current: key)
        case UInt8(ascii: "{"):
            frames.append(.object([], expectingKey: true, current: nil))
        case UInt8(ascii: "["):
            frames.append(.array(index: 0))
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            guard frames.popLast() != nil else { return nil }
        case UInt8(ascii: ","):
            switch frames.last {
            case .object(let keys, _, let current):
                frames[frames.count - 1] = .object(keys, expectingKey: true, current: current)
            case .array(let position): frames[frames.count - 1] = .array(index: position + 1)
            case nil: break
            }
        default:
            break
        }
        index += 1
    }
    return nil
}

private enum DuplicateKeyScan {
    /// An open object (its keys so far, as code points, whether the next string is a key, the key whose value is
    /// being read) or array (the position of the element being read).
    enum Frame {
        case object(Set<[Unicode.Scalar]>, expectingKey: Bool, current: String?)
        case array(index: Int)
    }

    /// A JSON string literal's value: `"\u0061mount"` is the key `amount`.
    static func string(_ literal: ArraySlice<UInt8>) -> String {
        let inner = literal.dropFirst().dropLast()
        guard inner.contains(UInt8(ascii: "\\")) else { return String(decoding: inner, as: UTF8.self) }
        let value = try? JSONSerialization.jsonObject(with: Data(literal), options: .fragmentsAllowed)
        return value as? String ?? String(decoding: inner, as: UTF8.self)
    }

    static func path(_ frames: [Frame], _ key: String) -> String {
        var text = ""
        for frame in frames.dropLast() {
            switch frame {
            case .object(_, _, let current?): text += text.isEmpty ? current : ".\(current)"
            case .array(let index): text += "[\(index)]"
            case .object(_, _, nil): break
            }
        }
        return text.isEmpty ? key : "\(text).\(key)"
    }
}

/// Whether an object or array of `json` (which JSONSerialization has accepted) ends in a comma,
/// as in `{"amount":1,}`: Foundation's reader takes it, RFC 8259 does not, so the order API
/// refuses it as `invalid_json` rather than accept what other readers reject.
func hasTrailingComma(in json: [UInt8]) -> Bool {
    var (inString, escaped, afterComma) = (false, false, false)
    for byte in json {
        if inString {
            (escaped, inString) = (!escaped && byte == UInt8(ascii: "\\"), escaped || byte != UInt8(ascii: "\""))
            continue
        }
        if [0x20, 0x09, 0x0A, 0x0D].contains(byte) { continue }
        if afterComma, byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") { return true }
        (inString, afterComma) = (byte == UInt8(ascii: "\""), byte == UInt8(ascii: ","))
    }
    return false
}
