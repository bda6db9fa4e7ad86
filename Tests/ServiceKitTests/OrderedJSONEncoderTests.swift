import Foundation
import ServiceKit
import Testing

@Suite("OrderedJSONEncoder")
struct OrderedJSONEncoderTests {
    struct Inner: Encodable {
        var zeta = 1
        var alpha: String? = nil
        var mid = [true, false]
    }
    struct Outer: Encodable {
        var orderId = "o\"1\\\n\u{01}/é"
        var status = "PENDING"
        var amount = Decimal(string: "99.90")!
        var ratio = 0.25
        var whole = 2.0
        var inner = Inner()
        var list = [Inner(zeta: 2, alpha: "a", mid: [])]
        var none: Int? = nil
    }

    static func text(_ value: some Encodable) throws -> String {
        String(decoding: try OrderedJSONEncoder().encode(value), as: UTF8.self)
    }

    @Test("keys in declaration order at every depth; nil left out; escaping and numbers as JSONEncoder writes them")
    func bytes() throws {
        let expected =
            #"{"orderId":"o\"1\\\n\u0001/é","status":"PENDING","amount":99.9,"ratio":0.25,"whole":2,"#
            + #""inner":{"zeta":1,"mid":[true,false]},"list":[{"zeta":2,"alpha":"a","mid":[]}]}"#
        #expect(try Self.text(Outer()) == expected)
        let plain = JSONEncoder()
        plain.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let ours = try JSONSerialization.jsonObject(with: Data(OrderedJSONEncoder().encode(Outer()))) as? NSDictionary
        let theirs = try JSONSerialization.jsonObject(with: try plain.encode(Outer())) as? NSDictionary
        #expect(ours == theirs)
    }

    @Test("the same bytes on every run")
    func stable() throws {
        let first = try Self.text(Outer())
        for _ in 0..<20 { #expect(try Self.text(Outer()) == first) }
    }

    @Test("a non-finite number is refused, not written as invalid JSON")
    func nonFinite() {
        #expect(throws: EncodingError.self) { try OrderedJSONEncoder().encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try OrderedJSONEncoder().encode(["x": Double.infinity]) }
    }

    @Test("top-level scalars and dictionaries")
    func fragments() throws {
        #expect(try Self.text("a") == #""a""#)
        #expect(try Self.text(["only": "one"]) == #"{"only":"one"}"#)
        #expect(try Self.text([Int]()) == "[]")
        #expect(try Self.text(Optional<Int>.none) == "null")
    }
}
