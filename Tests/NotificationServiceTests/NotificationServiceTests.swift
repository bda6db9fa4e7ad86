import Foundation
import GRDB
import OrderEvents
import ServiceKit
import Storage
import StorageTesting
import Testing
@testable import NotificationService

/// A real SQLite store in a fresh temporary directory, closed and removed on deinit.
final class TemporaryStore: Sendable {
    let directory: URL
    let store: EventStore

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "notification-tests-\(UUID().uuidString)"
        )
        store = try await EventStore(
            directory: directory.path,
            name: "notification-service",
            topics: .defaults,
            migrations: NotificationService.migrations
        )
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }
}

@Suite("NotificationService handler on a real store")
struct NotificationServiceTests {
    let temporary: TemporaryStore
    let service = NotificationService()
    var store: EventStore { temporary.store }

    init() async throws {
        temporary = try await TemporaryStore()
    }

    func envelope(_ orderId: String, _ payload: EventPayload) -> EventEnvelope {
        EventEnvelope(orderId: orderId, correlationId: "corr-\(orderId)", payload: payload)
    }

    func reserved(_ orderId: String) -> EventEnvelope {
        envelope(
            orderId,
            .inventoryReserved(
                InventoryReserved(items: [LineItem(sku: "A", quantity: 1)], customerEmail: "ada@example.com")
            )
        )
    }

    func rejected(_ orderId: String) -> EventEnvelope {
        envelope(
            orderId,
            .inventoryRejected(
                InventoryRejected(reason: .outOfStock, unavailable: ["A"], customerEmail: "ada@example.com")
            )
        )
    }

    func failed(_ orderId: String, email: String? = "bob@example.com") -> EventEnvelope {
        envelope(
            orderId,
            .paymentFailed(
                PaymentFailed(
                    reason: .paymentDeclined,
                    amount: Amount(exactly: "20000")!,
                    currency: "USD",
                    customerEmail: email,
                    detail: "too much"
                )
            )
        )
    }

    func deliver(_ event: EventEnvelope) async throws -> (EventStore.Outcome, [EventEnvelope]) {
        try await store.handle(event, topic: store.topics.topic(for: event.type), trace: nil) { [service] transaction in
            try service.handle(event, in: transaction).events
        }
    }

    func sent(_ events: [EventEnvelope]) throws -> NotificationSent? {
        guard let event = events.first else { return nil }
        guard case .notificationSent(let sent) = event.payload else {
            Issue.record("expected NotificationSent, got \(event.type)")
            return nil
        }
        return sent
    }

    @Test("inventory.reserved sends one completed notification")
    func completed() async throws {
        let (outcome, events) = try await deliver(reserved("o1"))
        #expect(outcome == .processed)
        #expect(events.count == 1)
        #expect(events.first?.orderId == "o1")
        #expect(events.first?.correlationId == "corr-o1")
        let notification = try #require(try sent(events))
        #expect(notification.outcome == .completed)
        #expect(notification.reason == nil)
        #expect(notification.recipient == "ada@example.com")
        #expect(notification.channel == "log")
        #expect(!notification.notificationId.isEmpty)
        #expect(try await store.unsent(limit: 10).map(\.message.topic) == [Topics.defaults.notificationsSent])
    }

    @Test("a later inventory.rejected for the same order sends no second notification")
    func onlyOnePerOrder() async throws {
        _ = try await deliver(reserved("o2"))
        let (outcome, events) = try await deliver(rejected("o2"))
        #expect(outcome == .processed)
        #expect(events.isEmpty)
        let (_, afterFailure) = try await deliver(failed("o2"))
        #expect(afterFailure.isEmpty)
        #expect(try await store.unsent(limit: 10).count == 1)
        let outcomeStored = try await store.database.read { transaction in
            try transaction.fetchValue(String.self, "SELECT outcome FROM notifications WHERE order_id = ?", ["o2"])
        }
        #expect(outcomeStored == "completed")
    }

    @Test("a declined payment sends cancelled(payment_declined)")
    func paymentDeclined() async throws {
        let (_, events) = try await deliver(failed("o3"))
        #expect(events.count == 1)
        let notification = try #require(try sent(events))
        #expect(notification.outcome == .cancelled)
        #expect(notification.reason == .paymentDeclined)
        #expect(notification.recipient == "bob@example.com")
    }

    @Test("inventory.rejected sends cancelled(out_of_stock)")
    func outOfStock() async throws {
        let (_, events) = try await deliver(rejected("o4"))
        let notification = try #require(try sent(events))
        #expect(notification.outcome == .cancelled)
        #expect(notification.reason == .outOfStock)
    }

    @Test("a notification without an email has no recipient")
    func noRecipient() async throws {
        let (_, events) = try await deliver(failed("o5", email: nil))
        #expect(try #require(try sent(events)).recipient == nil)
    }

    @Test("the same event delivered twice is a duplicate")
    func duplicate() async throws {
        let event = reserved("o6")
        #expect(try await deliver(event).0 == .processed)
        let again = try await deliver(event)
        #expect(again.0 == .duplicate)
        #expect(again.1.isEmpty)
        #expect(try await store.unsent(limit: 10).count == 1)
    }

    @Test("different orders each get their notification")
    func independentOrders() async throws {
        _ = try await deliver(reserved("o7"))
        _ = try await deliver(failed("o8"))
        #expect(try await store.unsent(limit: 10).count == 2)
    }

    @Test("an event type that is not an outcome is rejected")
    func rejectsOtherTypes() async throws {
        let event = envelope(
            "o9",
            .orderCreated(OrderCreated(amount: Amount(exactly: "1")!, currency: "USD", customerEmail: nil, items: []))
        )
        await #expect(throws: EventRejected.self) { try await deliver(event) }
        #expect(try await store.unsent(limit: 10).isEmpty)
    }
}
