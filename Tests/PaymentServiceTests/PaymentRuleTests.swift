import Configuration
import Foundation
import GRDB
import OrderEvents
import ServiceKit
import Storage
import StorageTesting
import Testing
@testable import PaymentService

private func amount(_ text: String) -> Amount {
    Amount(exactly: text)!
}

@Suite("PaymentRule")
struct PaymentRuleTests {
    @Test("the default limit is 10000")
    func defaultLimit() {
        #expect(PaymentRule.defaultLimit == amount("10000"))
        #expect(PaymentRule().limit == amount("10000"))
    }

    @Test("approves amounts at or below the limit", arguments: ["0.01", "1", "9999.99", "10000", "10000.00"])
    func approves(text: String) {
        #expect(PaymentRule().decide(amount(text)) == .approve)
    }

    @Test("declines amounts above the limit, naming both amounts", arguments: ["10000.01", "10001", "99999999"])
    func declines(text: String) throws {
        let decision = PaymentRule().decide(amount(text))
        guard case .decline(let detail) = decision else {
            Issue.record("expected a decline for \(text), got \(decision)")
            return
        }
        #expect(detail.contains(amount(text).description), "\(detail)")
        #expect(detail.contains("10000.00"), "\(detail)")
    }

    @Test("a custom limit is honoured")
    func customLimit() {
        let rule = PaymentRule(limit: amount("50.50"))
        #expect(rule.decide(amount("50.50")) == .approve)
        #expect(rule.decide(amount("50.51")) == .decline(detail: "amount 50.51 exceeds the limit 50.50"))
        #expect(PaymentRule(limit: amount("0")).decide(amount("0.01")) != .approve)
    }

    @Test("PAYMENT_LIMIT configures the rule and a bad value names the variable")
    func limitFromEnvironment() throws {
        let configuration = try ServiceConfiguration(identity: PaymentService.identity, environment: [:])
        let service = try PaymentService(
            configuration: configuration,
            reader: ConfigReader(environment: ["PAYMENT_LIMIT": "12.34"]),
            logger: .init(label: "t")
        )
        #expect(service.rule.limit == amount("12.34"))
        let defaulted = try PaymentService(
            configuration: configuration,
            reader: ConfigReader(environment: [:]),
            logger: .init(label: "t")
        )
        #expect(defaulted.rule.limit == PaymentRule.defaultLimit)
        for bad in ["abc", "-1", "1.234"] {
            let error = #expect(throws: ServiceConfigurationError.self) {
                try PaymentService(
                    configuration: configuration,
                    reader: ConfigReader(environment: ["PAYMENT_LIMIT": bad]),
                    logger: .init(label: "t")
                )
            }
            #expect(error?.variable == "PAYMENT_LIMIT")
            #expect(error?.description.contains("PAYMENT_LIMIT") == true)
        }
    }
}

/// A real SQLite store in a fresh temporary directory, removed by ``close()``.
final class TemporaryStore: Sendable {
    let directory: URL
    let store: EventStore

    init(name: String, migrations: [Migration]) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("payment-tests-\(UUID().uuidString)")
        store = try await EventStore(directory: directory.path, name: name, topics: .defaults, migrations: migrations)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }
}

@Suite("PaymentService handler on a real store")
struct PaymentServiceHandlerTests {
    let temporary: TemporaryStore
    let service = PaymentService(rule: PaymentRule(limit: amount("100")))
    var store: EventStore { temporary.store }

    init() async throws {
        temporary = try await TemporaryStore(name: "payment-service", migrations: PaymentService.migrations)
    }

    static let items = [LineItem(sku: "A", quantity: 2), LineItem(sku: "B", quantity: 1)]

    func orderCreated(_ orderId: String, _ text: String, email: String? = "ada@example.com") -> EventEnvelope {
        EventEnvelope(
            orderId: orderId,
            correlationId: "corr-\(orderId)",
            payload: .orderCreated(
                OrderCreated(amount: amount(text), currency: "EUR", customerEmail: email, items: Self.items)
            )
        )
    }

    func rejected(_ orderId: String) -> EventEnvelope {
        EventEnvelope(
            orderId: orderId,
            correlationId: "corr-\(orderId)",
            payload: .inventoryRejected(InventoryRejected(reason: .outOfStock, unavailable: ["B"], customerEmail: nil))
        )
    }

    func deliver(_ envelope: EventEnvelope) async throws -> (EventStore.Outcome, [EventEnvelope]) {
        let topic = store.topics.topic(for: envelope.type)
        return try await store.handle(envelope, topic: topic, trace: nil) { [service] transaction in
            try service.handle(envelope, in: transaction).events
        }
    }

    func paymentStatus(_ orderId: String) async throws -> String? {
        try await store.database.read { transaction in
            try transaction.fetchValue(String.self, "SELECT status FROM payments WHERE order_id = ?", [orderId])
        }
    }

    @Test("an order under the limit is charged: one PaymentCompleted with the order's ids and items")
    func chargesUnderLimit() async throws {
        let created = orderCreated("o1", "99.99")
        let (outcome, events) = try await deliver(created)
        #expect(outcome == .processed)
        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(event.orderId == "o1")
        #expect(event.correlationId == "corr-o1")
        #expect(event.eventId != created.eventId)
        guard case .paymentCompleted(let completed) = event.payload else {
            Issue.record("expected PaymentCompleted, got \(event.type)")
            return
        }
        #expect(completed.amount == amount("99.99"))
        #expect(completed.currency == "EUR")
        #expect(completed.customerEmail == "ada@example.com")
        #expect(completed.items == Self.items)
        #expect(!completed.paymentId.isEmpty)
        #expect(try await paymentStatus("o1") == "charged")

        let outbox = try await store.unsent(limit: 10)
        #expect(outbox.count == 1)
        #expect(outbox.first?.message.topic == Topics.defaults.paymentsCompleted)
        #expect(outbox.first?.message.key == Array("o1".utf8))
        let published = try EventCodec.decode(try #require(outbox.first?.message.value))
        #expect(published.eventId == event.eventId)
        #expect(published.orderId == event.orderId)
        #expect(published.correlationId == event.correlationId)
        #expect(published.payload == event.payload)
        // The wire keeps milliseconds.
        #expect(abs(published.occurredAt.timeIntervalSince(event.occurredAt)) < 0.001)
    }

    @Test("an order exactly at the limit is charged")
    func chargesAtLimit() async throws {
        let (_, events) = try await deliver(orderCreated("o-at", "100"))
        #expect(events.map(\.type) == [.paymentCompleted])
    }

    @Test("an order over the limit is declined with payment_declined")
    func declinesOverLimit() async throws {
        let (outcome, events) = try await deliver(orderCreated("o2", "100.01"))
        #expect(outcome == .processed)
        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(event.orderId == "o2")
        #expect(event.correlationId == "corr-o2")
        guard case .paymentFailed(let failed) = event.payload else {
            Issue.record("expected PaymentFailed, got \(event.type)")
            return
        }
        #expect(failed.reason == .paymentDeclined)
        #expect(failed.amount == amount("100.01"))
        #expect(failed.customerEmail == "ada@example.com")
        #expect(failed.detail.contains("100.01") && failed.detail.contains("100.00"))
        #expect(try await paymentStatus("o2") == "declined")
        #expect(try await store.unsent(limit: 10).map(\.message.topic) == [Topics.defaults.paymentsFailed])
    }

    @Test("InventoryRejected refunds a charged order exactly once")
    func refundsOnce() async throws {
        let created = orderCreated("o3", "40")
        let (_, charged) = try await deliver(created)
        guard case .paymentCompleted(let completed) = try #require(charged.first).payload else {
            Issue.record("expected PaymentCompleted")
            return
        }

        let (outcome, events) = try await deliver(rejected("o3"))
        #expect(outcome == .processed)
        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(event.orderId == "o3")
        #expect(event.correlationId == "corr-o3")
        guard case .paymentRefunded(let refunded) = event.payload else {
            Issue.record("expected PaymentRefunded, got \(event.type)")
            return
        }
        #expect(refunded.paymentId == completed.paymentId)
        #expect(refunded.amount == amount("40"))
        #expect(refunded.currency == "EUR")
        #expect(refunded.reason == .outOfStock)
        #expect(try await paymentStatus("o3") == "refunded")

        let second = rejected("o3")
        #expect(second.eventId != event.eventId)
        let (secondOutcome, secondEvents) = try await deliver(second)
        #expect(secondOutcome == .processed)
        #expect(secondEvents.isEmpty)
        #expect(
            try await store.unsent(limit: 10).map(\.message.topic) == [
                Topics.defaults.paymentsCompleted, Topics.defaults.paymentsRefunded,
            ]
        )
    }

    @Test("InventoryRejected for a declined or unknown order refunds nothing")
    func noRefundWithoutCharge() async throws {
        _ = try await deliver(orderCreated("o4", "500"))
        #expect(try await deliver(rejected("o4")).1.isEmpty)
        #expect(try await paymentStatus("o4") == "declined")
        #expect(try await deliver(rejected("never-seen")).1.isEmpty)
        #expect(try await store.unsent(limit: 10).map(\.message.topic) == [Topics.defaults.paymentsFailed])
    }

    @Test("the same event id delivered twice is a duplicate with no second outbox row")
    func duplicateDelivery() async throws {
        let created = orderCreated("o5", "10")
        let first = try await deliver(created)
        #expect(first.0 == .processed)
        #expect(first.1.count == 1)
        let second = try await deliver(created)
        #expect(second.0 == .duplicate)
        #expect(second.1.isEmpty)
        #expect(try await store.unsent(limit: 10).count == 1)

        let refund = rejected("o5")
        #expect(try await deliver(refund).0 == .processed)
        #expect(try await deliver(refund).0 == .duplicate)
        #expect(try await store.unsent(limit: 10).count == 2)
    }

    @Test("a second OrderCreated with a new event id does not charge again")
    func secondOrderCreatedIgnored() async throws {
        _ = try await deliver(orderCreated("o6", "10"))
        let (outcome, events) = try await deliver(orderCreated("o6", "10"))
        #expect(outcome == .processed)
        #expect(events.isEmpty)
        #expect(try await store.unsent(limit: 10).count == 1)
    }

    @Test("a zero amount or an unconsumed type is rejected and rolls back")
    func rejectsPoison() async throws {
        let zero = orderCreated("o7", "0")
        await #expect(throws: EventRejected.self) { try await deliver(zero) }
        #expect(try await paymentStatus("o7") == nil)
        // The rejected event was rolled back, inbox included.
        let wrong = EventEnvelope(
            orderId: "o7",
            correlationId: "c",
            payload: .inventoryReserved(InventoryReserved(items: [], customerEmail: nil))
        )
        await #expect(throws: EventRejected.self) { try await deliver(wrong) }
        #expect(try await store.unsent(limit: 10).isEmpty)
        let inbox = try await store.database.read { transaction in
            try transaction.fetchValue(Int.self, "SELECT COUNT(*) FROM inbox")
        }
        #expect(inbox == 0)
    }
}
