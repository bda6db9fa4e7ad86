import Foundation
import Fuzzing
import OrderEvents
import Testing
@testable import OrderService

/// `POST /order` bodies, mutated (real bodies and the bad-input table are the corpus): parsing
/// returns a valid request or a 400 ``APIError`` with a documented code, never traps; it never
/// accepts a body in which an object repeats a key, and names the repeated key as a strict JSON
/// reader finds it; an accepted request written back as JSON parses to the same request.
/// `FUZZ_ITERATIONS` and `FUZZ_SEED` run it longer (README, Testing).
@Suite("OrderRequest.parse: fuzzing")
struct OrderRequestFuzzTests {
    static let fuzzer: Fuzzer = {
        let valid = [
            #"{"orderId":"o1","amount":42}"#, #"{"orderId":"big","amount":20000}"#,
            #"{"orderId":"many","amount":99.90,"items":[{"sku":"GADGET","quantity":50}]}"#,
            #"{"orderId":"o-2.x_Y","amount":0.01,"currency":"EUR","customer":{"email":"ada@example.com"},"items":[{"sku":"SKU-RED-1","quantity":2},{"sku":"SKU-BLUE-7","quantity":1}]}"#,
            #"{ "amount" : 1e2 , "customer" : null , "items" : null }"#,
        ]
        // With two spellings of one character: distinct keys to JSON, equal `String`s to Swift.
        let keys = [
            "orderId", "amount", "currency", "customer", "email", "items", "sku", "quantity", "\u{E9}", "e\u{301}",
        ]
        let strings = ["o1", "USD", "EUR", "usd", "US", "ada@example.com", "a@b", "@b.co", "a@.co", "GADGET", "SKU-1"]
        return Fuzzer(
            "order body",
            corpus: (valid + OrderRequestTests.malformed.map(\.body)).map { Array($0.utf8) },
            tokens: keys.map { "\"\($0)\":" } + [
                #""\u0061mount":"#, #""amount":1,"#, "null", "true", "[]", "{}", "\\u0000",
            ],
            structure: .json(JSONVocabulary(keys: keys, strings: strings))
        )
    }()

    /// The codes of the 400 answers, and whether each names a field.
    static let codes = [
        "invalid_json": false, "invalid_body": false, "duplicate_field": true, "unknown_field": true,
        "missing_field": true, "invalid_field": true,
    ]

    @Test func parsesOrRejectsAsDocumented() {
        let report = Self.fuzzer.run(.fromEnvironment(defaultIterations: 2000), property: Self.check)
        #expect(report.findingCount == 0, "\(report)")
        #expect(report.accepted > report.settings.iterations / 100, "too few bodies parse: \(report)")
    }

    /// What the fuzzer found: "é" and "e\u{301}" are two keys to JSON, and were one to the
    /// duplicate-key check (Swift `String`s compare canonically).
    @Test func canonicallyEquivalentKeysAreDistinct() throws {
        let body = Array(#"{"amount":1,"customer":{"\u00e9":1,"e\u0301":2}}"#.utf8)
        let error = #expect(throws: APIError.self) { try OrderRequest.parse(body) }
        #expect(
            error?.code == "unknown_field" && error?.field?.hasPrefix("customer.") == true,
            "\(String(describing: error))"
        )
        #expect(firstDuplicateKey(in: Array(#"{"\u00e9":1,"\u00e9":2}"#.utf8)) == "\u{E9}")
    }

    /// What the fuzzer found: Foundation accepts a comma before `}` or `]`; RFC 8259 does not.
    @Test(arguments: [
        #"{"amount":1,}"#, #"{"amount":1,"items":[{"sku":"A","quantity":1},]}"#, "{\"amount\":1 ,\n}",
    ])
    func refusesATrailingComma(body: String) {
        let error = #expect(throws: APIError.self) { try OrderRequest.parse(Array(body.utf8)) }
        #expect(error?.code == "invalid_json")
    }

    @Test func findsNoTrailingCommaInsideStrings() throws {
        #expect(try OrderRequest.parse(Array(#"{"amount":1,"orderId":"a"}"#.utf8)).orderId == "a")
        let error = #expect(throws: APIError.self) { try OrderRequest.parse(Array(#"{"amount":1,"x\",}":2}"#.utf8)) }
        #expect(error?.code == "unknown_field")
    }

    static func check(_ body: [UInt8]) -> FuzzVerdict {
        let document = JSONReader.parse(body)
        let repeated: String? =
            if case .object = document { document?.firstRepeatedKeyPath } else { nil }
        let request: OrderRequest
        do {
            request = try OrderRequest.parse(body)
        } catch {
            guard error.status == .badRequest, let namesField = codes[error.code], !error.message.isEmpty,
                namesField == (error.field != nil)
            else { return .violated("an undocumented error: \(error)") }
            if let repeated, error.code != "invalid_json" {
                guard error.code == "duplicate_field", error.field == repeated else {
                    return .violated("\(repeated) is repeated, but the error is \(error.code) on \(error.field ?? "-")")
                }
            }
            if error.code == "duplicate_field", document != nil, repeated == nil {
                return .violated("duplicate_field on \(error.field ?? "-"), but no object repeats a key")
            }
            return .rejected
        }
        guard document != nil else { return .violated("accepted a body that is not strict RFC 8259 JSON") }
        if let repeated { return .violated("accepted a body that repeats \(repeated)") }
        guard request.orderId.map(OrderRequest.isIdentifier) ?? true, request.amount.minorUnits > 0,
            request.amount <= Amount.maximum, request.currency.utf8.count == 3,
            request.currency.utf8.allSatisfy({ (0x41...0x5A).contains($0) }),
            request.customerEmail.map(OrderRequest.isEmail) ?? true, request.items.count <= OrderRequest.maximumItems,
            request.items.allSatisfy({
                OrderRequest.isIdentifier($0.sku) && (1...OrderRequest.maximumQuantity).contains($0.quantity)
            })
        else { return .violated("accepted an invalid request: \(request)") }
        let written = rendered(request)
        guard (try? OrderRequest.parse(written)) == request else {
            return .violated("\(String(decoding: written, as: UTF8.self)) does not parse back to \(request)")
        }
        return .accepted
    }

    /// The request as a body that sets every field.
    static func rendered(_ request: OrderRequest) -> [UInt8] {
        var members = [
            JSONMember("amount", .number(request.amount.description)),
            JSONMember("currency", .string(request.currency)),
        ]
        if let orderId = request.orderId { members.append(JSONMember("orderId", .string(orderId))) }
        if let email = request.customerEmail {
            members.append(JSONMember("customer", .object([JSONMember("email", .string(email))])))
        }
        let items = request.items.map {
            JSONValue.object([JSONMember("sku", .string($0.sku)), JSONMember("quantity", .number(String($0.quantity)))])
        }
        members.append(JSONMember("items", .array(items)))
        return JSONValue.object(members).rendered
    }
}
