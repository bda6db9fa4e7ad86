import Foundation
import OrderEvents
import Testing
@testable import OrderService

@Suite("OrderRequest.parse")
struct OrderRequestTests {
    struct Malformed: Sendable, CustomTestStringConvertible {
        var name: String
        var body: String
        var code: String
        var field: String?
        var testDescription: String { name }
    }

    static let sku65 = String(repeating: "s", count: 65)
    static let id65 = String(repeating: "o", count: 65)
    static let items101 = "[" + (0..<101).map { _ in #"{"sku":"A","quantity":1}"# }.joined(separator: ",") + "]"

    static let malformed: [Malformed] = [
        // Not a JSON object.
        Malformed(name: "bad JSON", body: #"{"amount": 42"#, code: "invalid_json", field: nil),
        Malformed(name: "empty body", body: "", code: "invalid_json", field: nil),
        Malformed(name: "JSON array body", body: #"[{"amount":42}]"#, code: "invalid_body", field: nil),

        Malformed(name: "a UTF-8 byte order mark", body: "\u{FEFF}{\"amount\":1}", code: "invalid_json", field: nil),

        // A key twice in one object: readers disagree on which value counts.
        Malformed(
            name: "amount twice",
            body: #"{"amount":1,"amount":100000}"#,
            code: "duplicate_field",
            field: "amount"
        ),
        Malformed(
            name: "amount twice, once escaped",
            body: #"{"amount":1,"\u0061mount":100000}"#,
            code: "duplicate_field",
            field: "amount"
        ),
        Malformed(
            name: "email twice",
            body: #"{"amount":1,"customer":{"email":"a@b.co","email":"c@d.co"}}"#,
            code: "duplicate_field",
            field: "customer.email"
        ),
        Malformed(
            name: "sku twice in the second item",
            body: #"{"amount":1,"items":[{"sku":"A","quantity":1},{"sku":"B","quantity":1,"sku":"C"}]}"#,
            code: "duplicate_field",
            field: "items[1].sku"
        ),
        Malformed(
            name: "a key-like string value is not a key",
            body: #"{"amount":1,"currency":"amount","orderId":"x\"y"}"#,
            code: "invalid_field",
            field: "orderId"
        ),

        // Wrong types.
        Malformed(name: "amount as string", body: #"{"amount":"42"}"#, code: "invalid_field", field: "amount"),
        Malformed(name: "amount as boolean", body: #"{"amount":true}"#, code: "invalid_field", field: "amount"),
        Malformed(
            name: "orderId as number",
            body: #"{"orderId":7,"amount":42}"#,
            code: "invalid_field",
            field: "orderId"
        ),
        Malformed(
            name: "items as object",
            body: #"{"amount":42,"items":{"sku":"A","quantity":1}}"#,
            code: "invalid_field",
            field: "items"
        ),
        Malformed(
            name: "item as string",
            body: #"{"amount":42,"items":["A"]}"#,
            code: "invalid_field",
            field: "items[0]"
        ),
        Malformed(
            name: "customer as string",
            body: #"{"amount":42,"customer":"a@b.co"}"#,
            code: "invalid_field",
            field: "customer"
        ),
        Malformed(
            name: "currency as number",
            body: #"{"amount":42,"currency":840}"#,
            code: "invalid_field",
            field: "currency"
        ),
        Malformed(
            name: "quantity 1.5",
            body: #"{"amount":42,"items":[{"sku":"A","quantity":1.5}]}"#,
            code: "invalid_field",
            field: "items[0].quantity"
        ),
        Malformed(
            name: "quantity 1e30",
            body: #"{"amount":42,"items":[{"sku":"A","quantity":1e30}]}"#,
            code: "invalid_field",
            field: "items[0].quantity"
        ),
        Malformed(
            name: "quantity 2.5 in second item",
            body: #"{"amount":42,"items":[{"sku":"A","quantity":1},{"sku":"B","quantity":2.5}]}"#,
            code: "invalid_field",
            field: "items[1].quantity"
        ),
        Malformed(
            name: "quantity as string",
            body: #"{"amount":42,"items":[{"sku":"A","quantity":"1"}]}"#,
            code: "invalid_field",
            field: "items[0].quantity"
        ),
        Malformed(
            name: "quantity 0",
            body: #"{"amount":42,"items":[{"sku":"A","quantity":0}]}"#,
            code: "invalid_field",
            field: "items[0].quantity"
        ),
        Malformed(
            name: "quantity negative",
            body: #"{"amount":42,"items":[{"sku":"A","quantity":-2}]}"#,
            code: "invalid_field",
            field: "items[0].quantity"
        ),
        Malformed(
            name: "quantity above maximum",
            body: #"{"amount":42,"items":[{"sku":"A","quantity":1000001}]}"#,
            code: "invalid_field",
            field: "items[0].quantity"
        ),
        Malformed(
            name: "sku empty",
            body: #"{"amount":42,"items":[{"sku":"","quantity":1}]}"#,
            code: "invalid_field",
            field: "items[0].sku"
        ),
        Malformed(
            name: "sku 65 characters",
            body: #"{"amount":42,"items":[{"sku":"\#(sku65)","quantity":1}]}"#,
            code: "invalid_field",
            field: "items[0].sku"
        ),
        Malformed(
            name: "sku with space",
            body: #"{"amount":42,"items":[{"sku":"A B","quantity":1}]}"#,
            code: "invalid_field",
            field: "items[0].sku"
        ),
        Malformed(
            name: "bad sku in second item",
            body: #"{"amount":42,"items":[{"sku":"A","quantity":1},{"sku":"A/B","quantity":1}]}"#,
            code: "invalid_field",
            field: "items[1].sku"
        ),
        Malformed(
            name: "item without sku",
            body: #"{"amount":42,"items":[{"quantity":1}]}"#,
            code: "missing_field",
            field: "items[0].sku"
        ),
        Malformed(
            name: "item without quantity",
            body: #"{"amount":42,"items":[{"sku":"A"}]}"#,
            code: "missing_field",
            field: "items[0].quantity"
        ),

        // Amount values.
        Malformed(name: "negative amount", body: #"{"amount":-5}"#, code: "invalid_field", field: "amount"),
        Malformed(name: "zero amount", body: #"{"amount":0}"#, code: "invalid_field", field: "amount"),
        Malformed(name: "zero amount with decimals", body: #"{"amount":0.00}"#, code: "invalid_field", field: "amount"),
        Malformed(name: "3-decimal amount 42.001", body: #"{"amount":42.001}"#, code: "invalid_field", field: "amount"),
        Malformed(name: "3-decimal amount 0.005", body: #"{"amount":0.005}"#, code: "invalid_field", field: "amount"),
        Malformed(
            name: "amount above maximum",
            body: #"{"amount":10000000000001}"#,
            code: "invalid_field",
            field: "amount"
        ),
        Malformed(
            name: "amount too small to represent",
            body: #"{"amount":1e-400}"#,
            code: "invalid_field",
            field: "amount"
        ),
        Malformed(name: "null amount", body: #"{"amount":null}"#, code: "invalid_field", field: "amount"),
        Malformed(name: "missing amount", body: #"{"orderId":"o1"}"#, code: "missing_field", field: "amount"),
        Malformed(name: "empty object", body: "{}", code: "missing_field", field: "amount"),

        // Unknown fields.
        Malformed(
            name: "unknown top-level field",
            body: #"{"amount":42,"coupon":"FREE"}"#,
            code: "unknown_field",
            field: "coupon"
        ),
        Malformed(
            name: "unknown field inside customer",
            body: #"{"amount":42,"customer":{"email":"a@b.co","phone":"1"}}"#,
            code: "unknown_field",
            field: "customer.phone"
        ),
        Malformed(
            name: "unknown field inside an item",
            body: #"{"amount":42,"items":[{"sku":"A","quantity":1,"price":3}]}"#,
            code: "unknown_field",
            field: "items[0].price"
        ),

        // Limits and formats.
        Malformed(
            name: "101 items",
            body: #"{"amount":42,"items":\#(items101)}"#,
            code: "invalid_field",
            field: "items"
        ),
        Malformed(
            name: "invalid email (no @)",
            body: #"{"amount":42,"customer":{"email":"not-an-email"}}"#,
            code: "invalid_field",
            field: "customer.email"
        ),
        Malformed(
            name: "invalid email (no dot in domain)",
            body: #"{"amount":42,"customer":{"email":"a@localhost"}}"#,
            code: "invalid_field",
            field: "customer.email"
        ),
        Malformed(
            name: "invalid email (space)",
            body: #"{"amount":42,"customer":{"email":"a b@c.de"}}"#,
            code: "invalid_field",
            field: "customer.email"
        ),
        Malformed(
            name: "currency lowercase usd",
            body: #"{"amount":42,"currency":"usd"}"#,
            code: "invalid_field",
            field: "currency"
        ),
        Malformed(
            name: "currency two letters US",
            body: #"{"amount":42,"currency":"US"}"#,
            code: "invalid_field",
            field: "currency"
        ),
        Malformed(
            name: "orderId with slash",
            body: #"{"orderId":"a/b","amount":42}"#,
            code: "invalid_field",
            field: "orderId"
        ),
        Malformed(
            name: "orderId 65 characters",
            body: #"{"orderId":"\#(id65)","amount":42}"#,
            code: "invalid_field",
            field: "orderId"
        ),
        Malformed(name: "orderId empty", body: #"{"orderId":"","amount":42}"#, code: "invalid_field", field: "orderId"),
    ]

    @Test("a malformed body is refused with the expected code and field", arguments: malformed)
    func refusesMalformed(_ row: Malformed) {
        let error = #expect(throws: APIError.self) {
            try OrderRequest.parse(Array(row.body.utf8))
        }
        guard let error else { return }
        #expect(error.code == row.code, "\(error.message)")
        #expect(error.field == row.field, "\(error.message)")
        #expect(error.status.code == 400)
        #expect(!error.message.isEmpty)
        if let field = row.field {
            #expect(error.message.contains(field), "the message names the field: \(error.message)")
        }
    }

    static func parse(_ body: String) throws -> OrderRequest {
        try OrderRequest.parse(Array(body.utf8))
    }

    @Test("the seed body parses with defaults")
    func seedBody() throws {
        let request = try Self.parse(#"{"orderId":"o1","amount":42}"#)
        #expect(request.orderId == "o1")
        #expect(request.amount.minorUnits == 4200)
        #expect(request.currency == "USD")
        #expect(request.customerEmail == nil)
        #expect(request.items.isEmpty)
        #expect(request == OrderRequest(orderId: "o1", amount: Amount(exactly: "42")!))
    }

    @Test(
        "decimal amounts are kept exactly",
        arguments: [
            ("19.99", Int64(1999)), ("0.01", 1), ("0.1", 10), ("42.50", 4250), ("1234567.89", 123_456_789),
            ("0.29", 29), ("1e2", 10000),
        ]
    )
    func exactAmounts(text: String, minorUnits: Int64) throws {
        let request = try Self.parse(#"{"amount":\#(text)}"#)
        #expect(request.amount.minorUnits == minorUnits)
    }

    @Test("19.99 stays 19.99")
    func nineteenNinetyNine() throws {
        let request = try Self.parse(#"{"amount":19.99}"#)
        #expect(request.amount.minorUnits == 1999)
        #expect(request.amount.description == "19.99")
    }

    @Test("currency defaults to USD and an explicit one is kept")
    func currency() throws {
        #expect(try Self.parse(#"{"amount":1}"#).currency == "USD")
        #expect(try Self.parse(#"{"amount":1,"currency":"EUR"}"#).currency == "EUR")
    }

    @Test("an absent orderId is nil")
    func absentOrderId() throws {
        #expect(try Self.parse(#"{"amount":1}"#).orderId == nil)
        #expect(try Self.parse(#"{"amount":1,"orderId":null}"#).orderId == nil)
    }

    @Test("a full body keeps every field")
    func fullBody() throws {
        let request = try Self.parse(
            #"""
            {"orderId":"ord_1.a-B","amount":19.99,"currency":"EUR","customer":{"email":"ada@example.com"},
             "items":[{"sku":"SKU-1","quantity":2},{"sku":"W.2_x","quantity":1000000}]}
            """#
        )
        #expect(request.orderId == "ord_1.a-B")
        #expect(request.amount == Amount(exactly: "19.99"))
        #expect(request.currency == "EUR")
        #expect(request.customerEmail == "ada@example.com")
        #expect(request.items == [LineItem(sku: "SKU-1", quantity: 2), LineItem(sku: "W.2_x", quantity: 1_000_000)])
    }

    @Test("UTF-16 and UTF-32 bodies are refused as invalid_json: JSON between systems is UTF-8")
    func otherEncodings() throws {
        // ∀ (U+2200) is 00 22 in UTF-16LE: a byte that reads as a quote to a UTF-8 scanner.
        let text = #"{"amount":1,"currency":"∀"}"#
        let utf16: [UInt8] = [0xFF, 0xFE] + text.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let utf32: [UInt8] = text.unicodeScalars.flatMap { scalar in
            (0..<4).map { UInt8(truncatingIfNeeded: scalar.value >> ($0 * 8)) }
        }
        for body in [utf16, utf32] {
            #expect {
                try OrderRequest.parse(body)
            } throws: { error in
                (error as? APIError)?.code == "invalid_json"
            }
        }
    }

    @Test("the duplicate-key scan stops on bytes that are not JSON instead of trapping")
    func duplicateScanOnBrokenInput() {
        for broken in [#"{"amount":1,"am"#, "}}]]", #"{"a":""#, "", #"["a","a"]"#] {
            #expect(firstDuplicateKey(in: Array(broken.utf8)) == nil, "\(broken)")
        }
        #expect(firstDuplicateKey(in: Array(#"{"a":{},"b":[],"a":[[{}]]}"#.utf8)) == "a")
    }

    @Test("100 items, 64-character ids and null customer/items are accepted")
    func limitsAccepted() throws {
        let items = "[" + (0..<100).map { #"{"sku":"S\#($0)","quantity":1}"# }.joined(separator: ",") + "]"
        #expect(try Self.parse(#"{"amount":1,"items":\#(items)}"#).items.count == 100)
        let id64 = String(repeating: "x", count: 64)
        #expect(
            try Self.parse(#"{"orderId":"\#(id64)","amount":1,"items":[{"sku":"\#(id64)","quantity":1}]}"#).orderId
                == id64
        )
        let empty = try Self.parse(#"{"amount":1,"customer":null,"items":null}"#)
        #expect(empty.customerEmail == nil)
        #expect(empty.items.isEmpty)
        #expect(try Self.parse(#"{"amount":1,"customer":{}}"#).customerEmail == nil)
    }

    @Test("the fingerprint is equal for the same content")
    func fingerprintEqual() throws {
        let a = try Self.parse(#"{"orderId":"o1","amount":42,"items":[{"sku":"A","quantity":2}]}"#)
        let b = try Self.parse(#"{"items":[{"quantity":2,"sku":"A"}],"amount":42.00,"orderId":"o1","currency":"USD"}"#)
        #expect(a.fingerprint == b.fingerprint)
    }

    @Test(
        "the fingerprint differs when the content differs",
        arguments: [
            #"{"orderId":"o1","amount":43,"items":[{"sku":"A","quantity":2}]}"#,
            #"{"orderId":"o1","amount":42.01,"items":[{"sku":"A","quantity":2}]}"#,
            #"{"orderId":"o1","amount":42,"items":[{"sku":"A","quantity":3}]}"#,
            #"{"orderId":"o1","amount":42,"items":[{"sku":"B","quantity":2}]}"#,
            #"{"orderId":"o1","amount":42,"items":[{"sku":"A","quantity":2},{"sku":"B","quantity":1}]}"#,
            #"{"orderId":"o1","amount":42}"#,
            #"{"orderId":"o1","amount":42,"currency":"EUR","items":[{"sku":"A","quantity":2}]}"#,
            #"{"orderId":"o1","amount":42,"customer":{"email":"a@b.co"},"items":[{"sku":"A","quantity":2}]}"#,
        ]
    )
    func fingerprintDiffers(body: String) throws {
        let base = try Self.parse(#"{"orderId":"o1","amount":42,"items":[{"sku":"A","quantity":2}]}"#)
        #expect(try Self.parse(body).fingerprint != base.fingerprint)
    }
}

@Suite("OrderRequest amount precision")
struct OrderRequestPrecisionTests {
    /// Known limitation (reported, not fixed): Foundation's `Decimal` keeps 38 significant
    /// digits, so a 41-digit amount such as 1.000…0001 is rounded to 1 before the two-decimal
    /// check and accepted as 1.00. If this starts passing, remove `withKnownIssue`.
    @Test("an amount with a third decimal beyond Decimal's 38 digits is refused")
    func longFraction() {
        withKnownIssue("Decimal rounds past 38 significant digits") {
            #expect(throws: APIError.self) {
                try OrderRequest.parse(Array(#"{"amount":1.0000000000000000000000000000000000000001}"#.utf8))
            }
        }
    }
}
