import Foundation

/// Every event type of the platform, with its wire name.
///
/// The raw values are the envelope's `type` field and the `event-type` header; they are part of
/// the schema and never change (a renamed type would be ``EventDecodingError/unknownType(_:)``
/// to every consumer that has not been upgraded). `allCases` is in flow order.
public enum EventType: String, Sendable, Hashable, CaseIterable, Codable {
    /// ``OrderCreated``, on `orders.created`.
    case orderCreated = "OrderCreated"
    /// ``PaymentCompleted``, on `payments.completed`.
    case paymentCompleted = "PaymentCompleted"
    /// ``PaymentFailed``, on `payments.failed`.
    case paymentFailed = "PaymentFailed"
    /// ``PaymentRefunded``, on `payments.refunded`.
    case paymentRefunded = "PaymentRefunded"
    /// ``InventoryReserved``, on `inventory.reserved`.
    case inventoryReserved = "InventoryReserved"
    /// ``InventoryRejected``, on `inventory.rejected`.
    case inventoryRejected = "InventoryRejected"
    /// ``NotificationSent``, on `notifications.sent`.
    case notificationSent = "NotificationSent"
}

/// One line of an order: a stock-keeping unit and a quantity of at least one.
///
/// order-service validates both before it publishes; decoding an event checks only the types
/// (a string and an integer), not the range.
public struct LineItem: Sendable, Hashable, Codable {
    /// The stock-keeping unit, as the inventory knows it (matched exactly, case-sensitive).
    public var sku: String
    /// How many units; at least one in every event the platform writes.
    public var quantity: Int

    /// A line as given; nothing is checked here.
    public init(sku: String, quantity: Int) {
        self.sku = sku
        self.quantity = quantity
    }
}

/// Why an order was cancelled. The raw values are the API's `reason` strings.
/// They are part of the event schema and the API: stable. An unknown value fails decoding.
public enum CancellationReason: String, Sendable, Hashable, Codable, CaseIterable {
    /// payment-service declined the charge (amount over its limit).
    case paymentDeclined = "payment_declined"
    /// inventory-service could not reserve every item (short or unknown SKU).
    case outOfStock = "out_of_stock"
}

/// A new order was accepted by order-service. Published to `orders.created`.
public struct OrderCreated: Sendable, Hashable, Codable {
    /// The amount to charge (see ``Amount`` for its wire form).
    public var amount: Amount
    /// Three uppercase letters (an ISO 4217 code such as `USD`), as order-service validated them.
    public var currency: String
    /// Where the outcome notification goes; absent from the JSON when nil.
    public var customerEmail: String?
    /// The lines to reserve; may be empty (an order with nothing to reserve).
    public var items: [LineItem]

    /// The payload as given; nothing is checked here.
    public init(amount: Amount, currency: String, customerEmail: String?, items: [LineItem]) {
        self.amount = amount
        self.currency = currency
        self.customerEmail = customerEmail
        self.items = items
    }
}

/// The payment was approved and charged. Carries what inventory and notification need.
public struct PaymentCompleted: Sendable, Hashable, Codable {
    /// payment-service's id of the charge; a refund names it.
    public var paymentId: String
    /// The amount charged, the order's amount.
    public var amount: Amount
    /// The order's currency.
    public var currency: String
    /// Copied from ``OrderCreated``; absent from the JSON when nil.
    public var customerEmail: String?
    /// Copied from ``OrderCreated``: what inventory-service reserves.
    public var items: [LineItem]

    /// The payload as given; nothing is checked here.
    public init(paymentId: String, amount: Amount, currency: String, customerEmail: String?, items: [LineItem]) {
        self.paymentId = paymentId
        self.amount = amount
        self.currency = currency
        self.customerEmail = customerEmail
        self.items = items
    }
}

/// The payment was declined; the order is cancelled.
public struct PaymentFailed: Sendable, Hashable, Codable {
    /// Always ``CancellationReason/paymentDeclined`` today; the field keeps the schema open.
    public var reason: CancellationReason
    /// The amount that was declined.
    public var amount: Amount
    /// The order's currency.
    public var currency: String
    /// Copied from ``OrderCreated``; absent from the JSON when nil.
    public var customerEmail: String?
    /// A sentence for people (for example the limit that was exceeded); not meant to be parsed.
    public var detail: String

    /// The payload as given; nothing is checked here.
    public init(reason: CancellationReason, amount: Amount, currency: String, customerEmail: String?, detail: String) {
        self.reason = reason
        self.amount = amount
        self.currency = currency
        self.customerEmail = customerEmail
        self.detail = detail
    }
}

/// A charged payment was refunded because the order could not be fulfilled.
public struct PaymentRefunded: Sendable, Hashable, Codable {
    /// The ``PaymentCompleted/paymentId`` of the charge refunded.
    public var paymentId: String
    /// The amount refunded: the whole charge.
    public var amount: Amount
    /// The order's currency.
    public var currency: String
    /// Why the order could not be fulfilled (``CancellationReason/outOfStock``).
    public var reason: CancellationReason

    /// The payload as given; nothing is checked here.
    public init(paymentId: String, amount: Amount, currency: String, reason: CancellationReason) {
        self.paymentId = paymentId
        self.amount = amount
        self.currency = currency
        self.reason = reason
    }
}

/// Stock for every item of the order was reserved (all or nothing).
public struct InventoryReserved: Sendable, Hashable, Codable {
    /// The lines reserved: every line of the order.
    public var items: [LineItem]
    /// Copied from ``PaymentCompleted``; absent from the JSON when nil.
    public var customerEmail: String?

    /// The payload as given; nothing is checked here.
    public init(items: [LineItem], customerEmail: String?) {
        self.items = items
        self.customerEmail = customerEmail
    }
}

/// Stock was short or a SKU unknown; nothing was reserved and the order is cancelled.
public struct InventoryRejected: Sendable, Hashable, Codable {
    /// Always ``CancellationReason/outOfStock`` today; the field keeps the schema open.
    public var reason: CancellationReason
    /// The SKUs that were unknown or short.
    public var unavailable: [String]
    /// Copied from ``PaymentCompleted``; absent from the JSON when nil.
    public var customerEmail: String?

    /// The payload as given; nothing is checked here.
    public init(reason: CancellationReason, unavailable: [String], customerEmail: String?) {
        self.reason = reason
        self.unavailable = unavailable
        self.customerEmail = customerEmail
    }
}

/// The outcome of an order for which a notification was sent. The raw values are the wire form.
public enum NotifiedOutcome: String, Sendable, Hashable, Codable {
    /// Paid and reserved: the order is COMPLETED.
    case completed
    /// Declined or out of stock: the order is CANCELLED (with a reason).
    case cancelled
}

/// A notification about the order's outcome was sent (exactly one per order).
public struct NotificationSent: Sendable, Hashable, Codable {
    /// notification-service's id of the notification.
    public var notificationId: String
    /// The outcome the customer was told.
    public var outcome: NotifiedOutcome
    /// Why the order was cancelled; nil (absent from the JSON) for a completed order.
    public var reason: CancellationReason?
    /// How it was sent: `log` (written to notification-service's log) is the only channel today.
    public var channel: String
    /// The address it was sent to; nil (absent from the JSON) when there was none.
    public var recipient: String?

    /// The payload as given; nothing is checked here.
    public init(
        notificationId: String,
        outcome: NotifiedOutcome,
        reason: CancellationReason?,
        channel: String,
        recipient: String?
    ) {
        self.notificationId = notificationId
        self.outcome = outcome
        self.reason = reason
        self.channel = channel
        self.recipient = recipient
    }
}

/// The payload of an event; its case decides the envelope's `type`.
public enum EventPayload: Sendable, Hashable {
    /// See ``OrderCreated``.
    case orderCreated(OrderCreated)
    /// See ``PaymentCompleted``.
    case paymentCompleted(PaymentCompleted)
    /// See ``PaymentFailed``.
    case paymentFailed(PaymentFailed)
    /// See ``PaymentRefunded``.
    case paymentRefunded(PaymentRefunded)
    /// See ``InventoryReserved``.
    case inventoryReserved(InventoryReserved)
    /// See ``InventoryRejected``.
    case inventoryRejected(InventoryRejected)
    /// See ``NotificationSent``.
    case notificationSent(NotificationSent)

    /// The event type of this payload: one type per case, fixed.
    public var type: EventType {
        switch self {
        case .orderCreated: .orderCreated
        case .paymentCompleted: .paymentCompleted
        case .paymentFailed: .paymentFailed
        case .paymentRefunded: .paymentRefunded
        case .inventoryReserved: .inventoryReserved
        case .inventoryRejected: .inventoryRejected
        case .notificationSent: .notificationSent
        }
    }
}
