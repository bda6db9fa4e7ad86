import Foundation

/// Every event type of the platform, with its wire name.
public enum EventType: String, Sendable, Hashable, CaseIterable, Codable {
    case orderCreated = "OrderCreated"
    case paymentCompleted = "PaymentCompleted"
    case paymentFailed = "PaymentFailed"
    case paymentRefunded = "PaymentRefunded"
    case inventoryReserved = "InventoryReserved"
    case inventoryRejected = "InventoryRejected"
    case notificationSent = "NotificationSent"
}

/// One line of an order: a stock-keeping unit and a quantity of at least one.
public struct LineItem: Sendable, Hashable, Codable {
    public var sku: String
    public var quantity: Int

    public init(sku: String, quantity: Int) {
        self.sku = sku
        self.quantity = quantity
    }
}

/// Why an order was cancelled. The raw values are the API's `reason` strings.
public enum CancellationReason: String, Sendable, Hashable, Codable, CaseIterable {
    case paymentDeclined = "payment_declined"
    case outOfStock = "out_of_stock"
}

/// A new order was accepted by order-service. Published to `orders.created`.
public struct OrderCreated: Sendable, Hashable, Codable {
    public var amount: Amount
    public var currency: String
    public var customerEmail: String?
    public var items: [LineItem]

    public init(amount: Amount, currency: String, customerEmail: String?, items: [LineItem]) {
        self.amount = amount
        self.currency = currency
        self.customerEmail = customerEmail
        self.items = items
    }
}

/// The payment was approved and charged. Carries what inventory and notification need.
public struct PaymentCompleted: Sendable, Hashable, Codable {
    public var paymentId: String
    public var amount: Amount
    public var currency: String
    public var customerEmail: String?
    public var items: [LineItem]

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
    public var reason: CancellationReason
    public var amount: Amount
    public var currency: String
    public var customerEmail: String?
    public var detail: String

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
    public var paymentId: String
    public var amount: Amount
    public var currency: String
    public var reason: CancellationReason

    public init(paymentId: String, amount: Amount, currency: String, reason: CancellationReason) {
        self.paymentId = paymentId
        self.amount = amount
        self.currency = currency
        self.reason = reason
    }
}

/// Stock for every item of the order was reserved (all or nothing).
public struct InventoryReserved: Sendable, Hashable, Codable {
    public var items: [LineItem]
    public var customerEmail: String?

    public init(items: [LineItem], customerEmail: String?) {
        self.items = items
        self.customerEmail = customerEmail
    }
}

/// Stock was short or a SKU unknown; nothing was reserved and the order is cancelled.
public struct InventoryRejected: Sendable, Hashable, Codable {
    public var reason: CancellationReason
    /// The SKUs that were unknown or short.
    public var unavailable: [String]
    public var customerEmail: String?

    public init(reason: CancellationReason, unavailable: [String], customerEmail: String?) {
        self.reason = reason
        self.unavailable = unavailable
        self.customerEmail = customerEmail
    }
}

/// The outcome of an order for which a notification was sent.
public enum NotifiedOutcome: String, Sendable, Hashable, Codable {
    case completed
    case cancelled
}

/// A notification about the order's outcome was sent (exactly one per order).
public struct NotificationSent: Sendable, Hashable, Codable {
    public var notificationId: String
    public var outcome: NotifiedOutcome
    public var reason: CancellationReason?
    public var channel: String
    public var recipient: String?

    public init(notificationId: String, outcome: NotifiedOutcome, reason: CancellationReason?, channel: String, recipient: String?) {
        self.notificationId = notificationId
        self.outcome = outcome
        self.reason = reason
        self.channel = channel
        self.recipient = recipient
    }
}

/// The payload of an event; its case decides the envelope's `type`.
public enum EventPayload: Sendable, Hashable {
    case orderCreated(OrderCreated)
    case paymentCompleted(PaymentCompleted)
    case paymentFailed(PaymentFailed)
    case paymentRefunded(PaymentRefunded)
    case inventoryReserved(InventoryReserved)
    case inventoryRejected(InventoryRejected)
    case notificationSent(NotificationSent)

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
