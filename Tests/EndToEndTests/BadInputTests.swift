import Foundation
import Testing

@Suite("End to end: bad input gets a documented 4xx and publishes nothing", .serialized)
struct BadInputTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var body: [UInt8]
        var contentType: String? = "application/json"
        var status: UInt
        var code: String
        var description: String { name }

        init(
            _ name: String,
            _ body: String,
            contentType: String? = "application/json",
            status: UInt = 400,
            code: String
        ) {
            self.name = name
            self.body = Array(body.utf8)
            self.contentType = contentType
            self.status = status
            self.code = code
        }

        init(_ name: String, bytes: [UInt8], status: UInt, code: String) {
            self.name = name
            self.body = bytes
            self.status = status
            self.code = code
        }
    }

    static let cases: [Case] = [
        Case("amount as a string", #"{"orderId":"bad-1","amount":"42"}"#, code: "invalid_field"),
        Case("negative amount", #"{"orderId":"bad-2","amount":-5}"#, code: "invalid_field"),
        Case("zero amount", #"{"orderId":"bad-3","amount":0}"#, code: "invalid_field"),
        Case("three decimals", #"{"orderId":"bad-4","amount":42.001}"#, code: "invalid_field"),
        Case("missing amount", #"{"orderId":"bad-5"}"#, code: "missing_field"),
        Case("unknown field", #"{"orderId":"bad-6","amount":1,"coupon":"FREE"}"#, code: "unknown_field"),
        Case("orderId as a number", #"{"orderId":7,"amount":1}"#, code: "invalid_field"),
        Case("orderId with a slash", #"{"orderId":"bad/8","amount":1}"#, code: "invalid_field"),
        Case("items not an array", #"{"orderId":"bad-9","amount":1,"items":{"sku":"A"}}"#, code: "invalid_field"),
        Case(
            "quantity zero",
            #"{"orderId":"bad-10","amount":1,"items":[{"sku":"A","quantity":0}]}"#,
            code: "invalid_field"
        ),
        Case(
            "huge items array",
            #"{"orderId":"bad-11","amount":1,"items":["#
                + Array(repeating: #"{"sku":"A","quantity":1}"#, count: 101).joined(separator: ",") + "]}",
            code: "invalid_field"
        ),
        Case("bad JSON", #"{"orderId":"bad-12","amount":"#, code: "invalid_json"),
        Case("a JSON array", #"[{"orderId":"bad-13","amount":1}]"#, code: "invalid_body"),
        Case(
            "not JSON content type",
            #"{"orderId":"bad-14","amount":1}"#,
            contentType: "text/plain",
            status: 415,
            code: "unsupported_media_type"
        ),
        Case(
            "oversize body",
            bytes: Array(#"{"orderId":"bad-15","amount":1,"pad":""#.utf8)
                + Array(repeating: UInt8(ascii: "x"), count: 70_000) + Array(#""}"#.utf8),
            status: 413,
            code: "payload_too_large"
        ),
    ]

    static func post(_ testCase: Case, to platform: Platform) async throws -> Platform.Reply {
        try await platform.request(
            .POST,
            port: platform.apiPort,
            path: "/order",
            bytes: testCase.body,
            contentType: testCase.contentType
        )
    }

    @Test("malformed order bodies", arguments: cases)
    func malformed(_ testCase: Case) async throws {
        let platform = try await SharedPlatform.shared.get()
        let reply = try await Self.post(testCase, to: platform)
        #expect(reply.status == testCase.status, "\(testCase.name): \(reply.body)")
        let error = try reply.json()["error"] as? [String: Any]
        #expect(error?["code"] as? String == testCase.code, "\(testCase.name): \(reply.body)")
        #expect((error?["message"] as? String)?.isEmpty == false)
    }

    @Test("nothing was stored or published for any rejected body")
    func nothingPublished() async throws {
        let platform = try await SharedPlatform.shared.get()
        for testCase in Self.cases {
            let reply = try await Self.post(testCase, to: platform)
            #expect(reply.status >= 400 && reply.status < 500)
        }
        let badIds = (1...15).map { "bad-\($0)" } + ["bad/8"]
        for id in badIds where !id.contains("/") {
            #expect(try await platform.order(id) == nil, "\(id) was stored")
        }
        // A valid order after the bad ones: once it is on orders.created, everything before it is too.
        #expect(try await platform.post(#"{"orderId":"good-after-bad","amount":3}"#).status == 202)
        let published = try await platform.read("orders.created") { $0.contains { $0.keyString == "good-after-bad" } }
        let keys = Set(published.compactMap(\.keyString))
        #expect(keys.isDisjoint(with: badIds))
        let metrics = try await platform.metrics("order-service")
        #expect(metrics.contains(#"orders_received_total{outcome="invalid"}"#))
    }
}
