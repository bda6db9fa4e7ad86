import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import Logging
@testable import OrderService
import ServiceKit
import Storage
import StorageTesting
import Testing

/// The order API's documented answers, through its router in process (no socket), over a real
/// store and a running intake.
@Suite("Order API answers", .timeLimit(.minutes(2)))
struct OrderAPITests {
    static let json: HTTPFields = [.contentType: "application/json"]

    /// Runs `body` against the API's router while the intake commits the POSTs.
    func withAPI(
        _ body: @escaping @Sendable (any TestClientProtocol, IntakeHarness) async throws -> Void
    ) async throws {
        let harness = try await IntakeHarness()
        var logger = Logger(label: "order-api-tests")
        logger.logLevel = .critical
        let app = Application(
            router: OrderAPI.buildRouter(
                store: harness.store,
                intake: harness.intake,
                ordersTopic: "orders.created",
                logger: logger
            ),
            logger: logger
        )
        try await harness.running { _ in
            try await app.test(.router) { client in try await body(client, harness) }
        }
    }

    static func text(_ buffer: ByteBuffer) -> String { String(buffer: buffer) }

    static func object(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
    }

    static func errorCode(_ buffer: ByteBuffer) throws -> String? {
        (try object(buffer)["error"] as? [String: Any])?["code"] as? String
    }

    @Test("a new order is 202 with Location, its exact bytes in the documented key order; GET answers the same")
    func create() async throws {
        try await withAPI { client, _ in
            let body = ByteBuffer(
                string:
                    #"{"orderId":"o1","amount":42.5,"customer":{"email":"a@example.com"},"items":[{"sku":"A","quantity":2}]}"#
            )
            let created = try await client.execute(uri: "/order", method: .post, headers: Self.json, body: body)
            #expect(created.status == .accepted)
            #expect(created.headers[.location] == "/orders/o1")
            #expect(created.headers[.contentType] == "application/json")
            let createdAt = try #require(try Self.object(created.body)["createdAt"] as? String)
            #expect(
                Self.text(created.body) == """
                    {"orderId":"o1","status":"PENDING","amount":42.5,"currency":"USD","customer":{"email":"a@example.com"},\
                    "items":[{"sku":"A","quantity":2}],"refunded":false,"createdAt":"\(createdAt)",\
                    "history":[{"status":"PENDING","at":"\(createdAt)"}]}

                    """
            )

            let fetched = try await client.execute(uri: "/orders/o1", method: .get)
            #expect(fetched.status == .ok)
            #expect(Self.text(fetched.body) == Self.text(created.body))
        }
    }

    @Test("a repeat of the same body is 200 with the stored order; a different body is 409 order_conflict")
    func idempotency() async throws {
        try await withAPI { client, harness in
            let body = ByteBuffer(string: #"{"orderId":"same","amount":10}"#)
            let first = try await client.execute(uri: "/orders", method: .post, headers: Self.json, body: body)
            #expect(first.status == .accepted)
            let again = try await client.execute(uri: "/orders", method: .post, headers: Self.json, body: body)
            #expect(again.status == .ok)
            #expect(again.headers[.location] == "/orders/same")
            #expect(Self.text(again.body) == Self.text(first.body))

            let other = ByteBuffer(string: #"{"orderId":"same","amount":11}"#)
            let conflict = try await client.execute(uri: "/orders", method: .post, headers: Self.json, body: other)
            #expect(conflict.status == .conflict)
            #expect(
                Self.text(conflict.body) == """
                    {"error":{"code":"order_conflict","message":"order same already exists with a different body",\
                    "field":"orderId"}}

                    """
            )
            #expect(try await harness.storedCounts() == (orders: 1, outbox: 1))
        }
    }

    @Test("Idempotency-Key: a retried POST without orderId finds the order the first made; a bad key is 400")
    func idempotencyKey() async throws {
        try await withAPI { client, harness in
            var headers = Self.json
            headers[.idempotencyKey] = "9f1c0d2e-retry-1"
            let body = ByteBuffer(string: #"{"amount":10}"#)
            let first = try await client.execute(uri: "/order", method: .post, headers: headers, body: body)
            #expect(first.status == .accepted)
            #expect(first.headers[.location] == "/orders/9f1c0d2e-retry-1")
            let retry = try await client.execute(uri: "/order", method: .post, headers: headers, body: body)
            #expect(retry.status == .ok)
            #expect(Self.text(retry.body) == Self.text(first.body))
            let changed = ByteBuffer(string: #"{"amount":11}"#)
            let conflict = try await client.execute(uri: "/order", method: .post, headers: headers, body: changed)
            #expect(conflict.status == .conflict)
            #expect(try Self.errorCode(conflict.body) == "order_conflict")

            let same = ByteBuffer(string: #"{"orderId":"9f1c0d2e-retry-1","amount":10}"#)
            #expect(try await client.execute(uri: "/order", method: .post, headers: headers, body: same).status == .ok)
            let other = ByteBuffer(string: #"{"orderId":"another","amount":10}"#)
            let mismatch = try await client.execute(uri: "/order", method: .post, headers: headers, body: other)
            #expect(mismatch.status == .badRequest)
            #expect(try Self.errorCode(mismatch.body) == "invalid_header")
            var twice = Self.json
            twice[values: .idempotencyKey] = ["9f1c0d2e-retry-1", "another"]
            let doubled = try await client.execute(uri: "/order", method: .post, headers: twice, body: body)
            #expect(doubled.status == .badRequest)
            #expect(
                Self.text(doubled.body).contains("send one Idempotency-Key header, not 2"),
                "\(Self.text(doubled.body))"
            )
            headers[.idempotencyKey] = "not a valid key!"
            let invalid = try await client.execute(uri: "/order", method: .post, headers: headers, body: body)
            #expect(invalid.status == .badRequest)
            #expect(
                try Self.object(invalid.body)["error"].flatMap { $0 as? [String: Any] }?["field"] as? String
                    == "Idempotency-Key"
            )
            #expect(try await harness.storedCounts() == (orders: 1, outbox: 1))
        }
    }

    @Test(
        "bad bodies are 400/413/415 with their codes, and nothing is stored",
        arguments: [
            (#"{"orderId":"b1","amount":"#, "application/json", 400, "invalid_json"),
            (#"[{"orderId":"b2","amount":1}]"#, "application/json", 400, "invalid_body"),
            (#"{"orderId":"b3"}"#, "application/json", 400, "missing_field"),
            (#"{"orderId":"b4","amount":1,"coupon":"FREE"}"#, "application/json", 400, "unknown_field"),
            (#"{"orderId":"b7","amount":1,"amount":100000}"#, "application/json", 400, "duplicate_field"),
            (#"{"orderId":"b5","amount":-5}"#, "application/json", 400, "invalid_field"),
            (#"{"orderId":"b6","amount":1}"#, "text/plain", 415, "unsupported_media_type"),
            (
                #"{"pad":""# + String(repeating: "x", count: 70_000) + #""}"#, "application/json", 413,
                "payload_too_large"
            ),
        ]
    )
    func badBodies(body: String, contentType: String, status: Int, code: String) async throws {
        try await withAPI { client, harness in
            let reply = try await client.execute(
                uri: "/order",
                method: .post,
                headers: [.contentType: contentType],
                body: ByteBuffer(string: body)
            )
            #expect(reply.status.code == status, "\(Self.text(reply.body))")
            #expect(reply.headers[.contentType] == "application/json")
            #expect(try Self.errorCode(reply.body) == code, "\(Self.text(reply.body))")
            #expect(try await harness.storedCounts() == (orders: 0, outbox: 0))
        }
    }

    @Test("an invalid field names the field, in code, message, field order")
    func invalidFieldBytes() async throws {
        try await withAPI { client, _ in
            let reply = try await client.execute(
                uri: "/order",
                method: .post,
                headers: Self.json,
                body: ByteBuffer(string: #"{"amount":0}"#)
            )
            #expect(reply.status == .badRequest)
            let text = Self.text(reply.body)
            #expect(text.hasPrefix(#"{"error":{"code":"invalid_field","message":"amount "#), "\(text)")
            #expect(text.hasSuffix(#","field":"amount"}}"# + "\n"), "\(text)")
        }
    }

    @Test("an unknown order is 404 order_not_found")
    func unknownOrder() async throws {
        try await withAPI { client, _ in
            let reply = try await client.execute(uri: "/orders/nope", method: .get)
            #expect(reply.status == .notFound)
            #expect(
                Self.text(reply.body) == """
                    {"error":{"code":"order_not_found","message":"no order with id nope"}}

                    """
            )
        }
    }

    @Test("the list is newest first and filters by status; a bad query is 400 invalid_query naming the parameter")
    func list() async throws {
        try await withAPI { client, harness in
            for id in ["l1", "l2"] {
                let body = ByteBuffer(string: #"{"orderId":"\#(id)","amount":1}"#)
                let reply = try await client.execute(uri: "/order", method: .post, headers: Self.json, body: body)
                #expect(reply.status == .accepted)
            }
            let all = try await client.execute(uri: "/orders?status=pending&limit=10", method: .get)
            #expect(all.status == .ok)
            let orders = try #require(try Self.object(all.body)["orders"] as? [[String: Any]])
            #expect(orders.map { $0["orderId"] as? String } == ["l2", "l1"])
            #expect(Self.text(all.body).hasPrefix(#"{"orders":[{"orderId":"l2","status":"PENDING","#))

            // Each listed order carries its own history (read for the whole list at once).
            try await harness.store.database.write { transaction in
                try OrderTables.setStatus("l1", .paid, reason: nil, at: "2026-01-01T00:00:01.000Z", in: transaction)
            }
            let both = try await client.execute(uri: "/orders?limit=10", method: .get)
            let listed = try #require(try Self.object(both.body)["orders"] as? [[String: Any]])
            let histories = listed.map { order in
                ((order["history"] as? [[String: Any]]) ?? []).compactMap { $0["status"] as? String }
            }
            #expect(histories == [["PENDING"], ["PENDING", "PAID"]])
            #expect(listed.map { $0["orderId"] as? String } == ["l2", "l1"])

            for (query, field) in [("status=LOST", "status"), ("limit=0", "limit"), ("limit=501", "limit")] {
                let reply = try await client.execute(uri: "/orders?\(query)", method: .get)
                #expect(reply.status == .badRequest)
                #expect(try Self.errorCode(reply.body) == "invalid_query")
                let error = try #require(try Self.object(reply.body)["error"] as? [String: Any])
                #expect(error["field"] as? String == field)
            }
        }
    }

    @Test("a failure that is not the client's is 503 internal_error, telling the client to retry")
    func internalError() async throws {
        try await withAPI { client, harness in
            try await harness.store.database.write { transaction in try transaction.execute("DROP TABLE orders") }
            let reply = try await client.execute(uri: "/orders/o1", method: .get)
            #expect(reply.status == .serviceUnavailable)
            #expect(
                Self.text(reply.body) == """
                    {"error":{"code":"internal_error","message":"the order could not be processed; retry later"}}

                    """
            )
        }
    }
}
