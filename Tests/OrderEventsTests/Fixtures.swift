import Foundation
import Testing
@testable import OrderEvents

/// Shared sample data for the OrderEvents tests.
enum Fixtures {
    /// A millisecond-exact instant: 2024-05-01T12:51:30.123Z.
    static let occurredAt = Date(timeIntervalSince1970: 1_714_567_890.123)
    static let eventId = UUID(uuidString: "6F1C2B3A-4D5E-4F60-8172-93A4B5C6D7E8")!

    static func amount(_ text: String) -> Amount {
        guard let amount = Amount(exactly: text) else { fatalError("bad fixture amount \(text)") }
        return amount
    }

    static let items = [LineItem(sku: "SKU-RED-1", quantity: 2), LineItem(sku: "SKU-BLUE-7", quantity: 1)]

    /// One payload per event type, with every optional field set.
    static let fullPayloads: [EventPayload] = [
        .orderCreated(
            OrderCreated(amount: amount("42.50"), currency: "EUR", customerEmail: "ada@example.com", items: items)
        ),
        .paymentCompleted(
            PaymentCompleted(
                paymentId: "pay-123",
                amount: amount("19.99"),
                currency: "USD",
                customerEmail: "ada@example.com",
                items: items
            )
        ),
        .paymentFailed(
            PaymentFailed(
                reason: .paymentDeclined,
                amount: amount("0.01"),
                currency: "GBP",
                customerEmail: "bob@example.com",
                detail: "card declined: insufficient funds"
            )
        ),
        .paymentRefunded(
            PaymentRefunded(paymentId: "pay-456", amount: amount("1000000"), currency: "JPY", reason: .outOfStock)
        ),
        .inventoryReserved(InventoryReserved(items: items, customerEmail: "carol@example.com")),
        .inventoryRejected(
            InventoryRejected(
                reason: .outOfStock,
                unavailable: ["SKU-RED-1", "SKU-GONE"],
                customerEmail: "dan@example.com"
            )
        ),
        .notificationSent(
            NotificationSent(
                notificationId: "n-789",
                outcome: .cancelled,
                reason: .paymentDeclined,
                channel: "email",
                recipient: "erin@example.com"
            )
        ),
    ]

    /// One payload per event type, with every optional field nil (and empty collections).
    static let sparsePayloads: [EventPayload] = [
        .orderCreated(OrderCreated(amount: amount("0"), currency: "EUR", customerEmail: nil, items: [])),
        .paymentCompleted(
            PaymentCompleted(paymentId: "p", amount: amount("5"), currency: "EUR", customerEmail: nil, items: [])
        ),
        .paymentFailed(
            PaymentFailed(reason: .outOfStock, amount: amount("5.5"), currency: "EUR", customerEmail: nil, detail: "")
        ),
        .paymentRefunded(
            PaymentRefunded(paymentId: "p", amount: amount("0.10"), currency: "EUR", reason: .paymentDeclined)
        ),
        .inventoryReserved(InventoryReserved(items: [], customerEmail: nil)),
        .inventoryRejected(InventoryRejected(reason: .paymentDeclined, unavailable: [], customerEmail: nil)),
        .notificationSent(
            NotificationSent(notificationId: "n", outcome: .completed, reason: nil, channel: "log", recipient: nil)
        ),
    ]

    static func envelope(_ payload: EventPayload, occurredAt: Date = occurredAt) -> EventEnvelope {
        EventEnvelope(
            eventId: eventId,
            occurredAt: occurredAt,
            orderId: "order-0001",
            correlationId: "corr-abc",
            payload: payload
        )
    }

    static var orderCreatedEnvelope: EventEnvelope { envelope(fullPayloads[0]) }

    /// The encoded form of `envelope` as a mutable JSON object.
    static func jsonObject(_ envelope: EventEnvelope = orderCreatedEnvelope) throws -> [String: Any] {
        let bytes = try EventCodec.encode(envelope)
        return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    /// Encodes `envelope`, lets `mutate` edit the JSON object, and returns the edited bytes.
    static func mutated(
        _ envelope: EventEnvelope = orderCreatedEnvelope,
        _ mutate: (inout [String: Any]) -> Void
    ) throws -> [UInt8] {
        var object = try jsonObject(envelope)
        mutate(&object)
        return Array(try JSONSerialization.data(withJSONObject: object))
    }

    /// Like ``mutated(_:_:)`` but edits only the `payload` object.
    static func mutatedPayload(
        _ envelope: EventEnvelope = orderCreatedEnvelope,
        _ mutate: (inout [String: Any]) -> Void
    ) throws -> [UInt8] {
        try mutated(envelope) { object in
            var payload = object["payload"] as? [String: Any] ?? [:]
            mutate(&payload)
            object["payload"] = payload
        }
    }
}

/// The error `EventCodec.decode` throws for `bytes`, or nil (with a recorded issue) when it succeeds.
func decodeError(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> EventDecodingError? {
    do {
        let envelope = try EventCodec.decode(bytes)
        Issue.record("expected a decoding error, decoded \(envelope)", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

func decodeError(_ json: String, sourceLocation: SourceLocation = #_sourceLocation) -> EventDecodingError? {
    decodeError(Array(json.utf8), sourceLocation: sourceLocation)
}
