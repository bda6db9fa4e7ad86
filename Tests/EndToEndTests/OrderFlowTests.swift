import Foundation
import Kafka
import OrderEvents
import Testing

@Suite("End to end: the four real services on the embedded broker", .serialized)
struct OrderFlowTests {
    @Test("the original smoke-test body reaches COMPLETED, with the original log progression")
    func smokeTest() async throws {
        let platform = try await SharedPlatform.shared.get()
        let accepted = try await platform.post(#"{"orderId":"o1","amount":42}"#)
        #expect(accepted.status == 202)
        #expect(accepted.headers["location"] == "/orders/o1")
        #expect(try accepted.json()["status"] as? String == "PENDING")

        let order = try await platform.terminalOrder("o1")
        #expect(order.status == "COMPLETED")
        #expect(order.amount == 42)
        #expect(order.currency == "USD")
        #expect(order.statuses == ["PENDING", "PAID", "RESERVED", "COMPLETED"])

        // A repeat of the same body answers 200 with the existing order; another body is a conflict.
        let repeated = try await platform.post(#"{"orderId":"o1","amount":42}"#)
        #expect(repeated.status == 200)
        #expect(try repeated.json()["status"] as? String == "COMPLETED")
        let conflict = try await platform.post(#"{"orderId":"o1","amount":43}"#)
        #expect(conflict.status == 409)
        #expect(conflict.body.contains("order_conflict"))

        #expect(platform.log("order-service").contains("order o1 accepted, published orders.created"))
        #expect(
            platform.log("payment-service").contains("processed payment of 42.00 USD, published payments.completed")
        )
        #expect(
            platform.log("inventory-service").contains(
                "reserved stock (no items to reserve), published inventory.reserved"
            )
        )
        #expect(platform.log("notification-service").contains("sent notification (completed)"))
    }

    @Test("an amount over PAYMENT_LIMIT is declined: CANCELLED(payment_declined)")
    func declined() async throws {
        let platform = try await SharedPlatform.shared.get()
        #expect(try await platform.post(#"{"orderId":"big-1","amount":10000.01}"#).status == 202)
        let order = try await platform.terminalOrder("big-1")
        #expect(order.status == "CANCELLED")
        #expect(order.reason == "payment_declined")
        #expect(order.statuses == ["PENDING", "CANCELLED"])
    }

    @Test("an out-of-stock item is CANCELLED(out_of_stock) and refunded exactly once")
    func outOfStock() async throws {
        let platform = try await SharedPlatform.shared.get()
        let body =
            #"{"orderId":"oos-1","amount":19.99,"currency":"EUR","customer":{"email":"ana@example.com"},"items":[{"sku":"SKU-1","quantity":2},{"sku":"RARE","quantity":5}]}"#
        #expect(try await platform.post(body).status == 202)
        let order = try await platform.terminalOrder("oos-1")
        #expect(order.status == "CANCELLED")
        #expect(order.reason == "out_of_stock")
        #expect(order.amount == Decimal(string: "19.99"))
        try await waitUntil(timeout: .seconds(20), "the refund to be recorded") {
            try await platform.order("oos-1")?.refunded == true
        }
        let refunds = try await platform.read(Topics.defaults.paymentsRefunded) { messages in
            messages.contains { $0.keyString == "oos-1" }
        }.filter { $0.keyString == "oos-1" }
        #expect(refunds.count == 1)
        let refund = try EventCodec.decode(try #require(refunds.first).value)
        guard case .paymentRefunded(let payload) = refund.payload else {
            Issue.record("expected PaymentRefunded, got \(refund.type)")
            return
        }
        #expect(payload.amount == Amount(exactly: "19.99"))
        #expect(payload.currency == "EUR")
        // The reservation was all or nothing: SKU-1 was not taken for the rejected order.
        #expect(
            try await platform.post(#"{"orderId":"after-oos","amount":1,"items":[{"sku":"SKU-1","quantity":1000}]}"#)
                .status == 202
        )
        #expect(try await platform.terminalOrder("after-oos").status == "COMPLETED")
    }

    @Test("a poison record on orders.created lands in orders.created.dlq and the next valid order still completes")
    func poisonRecord() async throws {
        let platform = try await SharedPlatform.shared.get()
        let producer = try KafkaProducer(
            configuration: KafkaClientConfiguration(
                bootstrapServers: platform.cluster.bootstrapServers,
                clientId: "e2e-poison",
                statisticsInterval: nil
            ),
            logger: .init(label: "e2e")
        )
        let poison = Array(#"{"type":"OrderCreated","oops":true}"#.utf8)
        _ = try await withRunningClients(producer) {
            try await producer.send(topic: "orders.created", key: Array("poison-1".utf8), value: poison)
        }

        let dead = try await platform.read("orders.created.dlq") { $0.contains { $0.keyString == "poison-1" } }
            .filter { $0.keyString == "poison-1" }
        #expect(dead.count == 1)
        #expect(dead.first?.value == poison)
        #expect(dead.first?.header("dlq-source-topic") == "orders.created")
        #expect(dead.first?.header("dlq-service") == "payment-service")
        #expect(dead.first?.header("dlq-error")?.isEmpty == false)

        #expect(try await platform.post(#"{"orderId":"after-poison","amount":5}"#).status == 202)
        #expect(try await platform.terminalOrder("after-poison").status == "COMPLETED")
        let metrics = try await platform.metrics("payment-service")
        #expect(metrics.contains(#"dlq_messages_total{topic="orders.created"} 1"#))
    }
}
