import Foundation

/// Encodes a value as compact JSON whose object keys come in the order the value encodes them:
/// for synthesized `Codable` conformances, the order the properties are declared in. Foundation's
/// `JSONEncoder` keeps an object's keys in a dictionary, so their order changes from one run to the
/// next on Linux, and `.sortedKeys` can only sort them alphabetically.
///
/// Output matches `JSONEncoder` with `.withoutEscapingSlashes` otherwise: `nil` optionals encoded
/// with `encodeIfPresent` (the synthesized default) are left out, `Decimal` is a JSON number, `Data`
/// is base64, `Date` is seconds since 2001, and floating-point numbers are spelled as `JSONEncoder`
/// spells them. A value type without state: safe to share between tasks.
public struct OrderedJSONEncoder: Sendable {
    /// An encoder; it has no options.
    public init() {}

    /// The JSON text of `value`, UTF-8.
    /// - Throws: `EncodingError.invalidValue` for a non-finite floating-point number, or when
    ///   `value` encodes nothing; any error `value`'s own `encode(to:)` throws.
    public func encode(_ value: some Encodable) throws -> [UInt8] {
        let root = Node()
        try root.encode(value, codingPath: [])
        var output: [UInt8] = []
        output.reserveCapacity(256)
        try root.write(to: &output, codingPath: [])
        return output
    }
}

/// One JSON value under construction. A class because containers hand out nested containers
/// that fill their part later. Confined to one `encode(_:)` call, never shared.
private final class Node {
    enum Value {
        case empty
        case literal(String)
        case array([Node])
        case object([(key: String, node: Node)])
    }

    var value: Value = .empty

    func encode(_ encodable: some Encodable, codingPath: [any CodingKey]) throws {
        switch encodable {
        case let decimal as Decimal: value = .literal(decimal.description)
        case let string as String: value = .literal(Self.quoted(string))
        case let url as URL: value = .literal(Self.quoted(url.absoluteString))
        case let data as Data: value = .literal(Self.quoted(data.base64EncodedString()))
        default: try encodable.encode(to: NodeEncoder(node: self, codingPath: codingPath))
        }
    }

    func child(forKey key: String) -> Node {
        if case .object(let pairs) = value, let existing = pairs.first(where: { $0.key == key }) {
            return existing.node
        }
        let node = Node()
        guard case .object(var pairs) = value else {
            value = .object([(key, node)])
            return node
        }
        value = .empty  // keeps the array uniquely referenced, so the append does not copy it
        pairs.append((key, node))
        value = .object(pairs)
        return node
    }

    func appendChild() -> Node {
        let node = Node()
        guard case .array(var nodes) = value else {
            value = .array([node])
            return node
        }
        value = .empty
        nodes.append(node)
        value = .array(nodes)
        return node
    }

    func write(to output: inout [UInt8], codingPath: [any CodingKey]) throws {
        switch value {
        case .empty:
            throw EncodingError.invalidValue(
                codingPath,
                .init(codingPath: codingPath, debugDescription: "the value encoded nothing")
            )
        case .literal(let text):
            output.append(contentsOf: text.utf8)
        case .array(let nodes):
            output.append(UInt8(ascii: "["))
            for (index, node) in nodes.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                try node.write(to: &output, codingPath: codingPath)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let pairs):
            output.append(UInt8(ascii: "{"))
            for (index, pair) in pairs.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                output.append(contentsOf: Self.quoted(pair.key).utf8)
                output.append(UInt8(ascii: ":"))
                try pair.node.write(to: &output, codingPath: codingPath)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    static func quoted(_ string: String) -> String {
        var result = "\""
        result.reserveCapacity(string.utf8.count + 2)
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    static func number(_ value: some BinaryFloatingPoint & Encodable, codingPath: [any CodingKey]) throws -> String {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value,
                .init(codingPath: codingPath, debugDescription: "\(value) is not a valid JSON number")
            )
        }
        // JSONEncoder's own spelling of the number, so the bytes match what it would write.
        return String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }
}

private struct NodeEncoder: Encoder {
    let node: Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .object = node.value {} else { node.value = .object([]) }
        return KeyedEncodingContainer(KeyedContainer(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array = node.value {} else { node.value = .array([]) }
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueContainer(node: node, codingPath: codingPath)
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.value = .literal("null") }
    mutating func encode(_ value: Bool) throws { node.value = .literal(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { node.value = .literal(Node.quoted(value)) }
    mutating func encode(_ value: Double) throws { try encodeNumber(value) }
    mutating func encode(_ value: Float) throws { try encodeNumber(value) }
    mutating func encode(_ value: Int) throws { node.value = .literal(String(value)) }
    mutating func encode(_ value: Int8) throws { node.value = .literal(String(value)) }
    mutating func encode(_ value: Int16) throws { node.value = .literal(String(value)) }
    mutating func encode(_ value: Int32) throws { node.value = .literal(String(value)) }
    mutating func encode(_ value: Int64) throws { node.value = .literal(String(value)) }
    mutating func encode(_ value: UInt) throws { node.value = .literal(String(value)) }
    mutating func encode(_ value: UInt8) throws { node.value = .literal(String(value)) }
    mutating func encode(_ value: UInt16) throws { node.value = .literal(String(value)) }
    mutating func encode(_ value: UInt32) throws { node.value = .literal(String(value)) }
    mutating func encode(_ value: UInt64) throws { node.value = .literal(String(value)) }
    mutating func encode(_ value: some Encodable) throws { try node.encode(value, codingPath: codingPath) }

    private func encodeNumber(_ value: some BinaryFloatingPoint & Encodable) throws {
        node.value = .literal(try Node.number(value, codingPath: codingPath))
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    let codingPath: [any CodingKey]

    func single(_ key: Key) -> SingleValueContainer {
        SingleValueContainer(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key as any CodingKey])
    }

    mutating func encodeNil(forKey key: Key) throws {
        var c = single(key)
        try c.encodeNil()
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: Int8, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: Int16, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: Int32, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: Int64, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: UInt, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: UInt8, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: UInt16, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: UInt32, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: UInt64, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }
    mutating func encode(_ value: some Encodable, forKey key: Key) throws {
        var c = single(key)
        try c.encode(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type,
        forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        nested(key).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        nested(key).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        NodeEncoder(node: node.child(forKey: "super"), codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        nested(key)
    }

    private func nested(_ key: Key) -> NodeEncoder {
        NodeEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key as any CodingKey])
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]
    var count: Int {
        guard case .array(let nodes) = node.value else { return 0 }
        return nodes.count
    }

    func single() -> SingleValueContainer {
        SingleValueContainer(node: node.appendChild(), codingPath: codingPath)
    }

    mutating func encodeNil() throws {
        var c = single()
        try c.encodeNil()
    }
    mutating func encode(_ value: Bool) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: String) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: Double) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: Float) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: Int) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: Int8) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: Int16) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: Int32) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: Int64) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: UInt) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: UInt8) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: UInt16) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: UInt32) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: UInt64) throws {
        var c = single()
        try c.encode(value)
    }
    mutating func encode(_ value: some Encodable) throws {
        var c = single()
        try c.encode(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    ) -> KeyedEncodingContainer<NestedKey> {
        NodeEncoder(node: node.appendChild(), codingPath: codingPath).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        NodeEncoder(node: node.appendChild(), codingPath: codingPath).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        NodeEncoder(node: node.appendChild(), codingPath: codingPath)
    }
}
