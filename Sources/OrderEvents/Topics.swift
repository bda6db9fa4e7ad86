/// The Kafka topic names of the platform. Defaults are the original demo's names; each one can
/// be overridden (see `ServiceKit.PlatformConfig`). Every event of one order is keyed by its
/// orderId, so it stays in one partition of each topic, in order. A plain value: names are not
/// validated here (the configuration layer does that).
public struct Topics: Sendable, Hashable {
    /// Where ``OrderCreated`` is published (default `orders.created`).
    public var ordersCreated: String
    /// Where ``PaymentCompleted`` is published (default `payments.completed`).
    public var paymentsCompleted: String
    /// Where ``PaymentFailed`` is published (default `payments.failed`).
    public var paymentsFailed: String
    /// Where ``PaymentRefunded`` is published (default `payments.refunded`).
    public var paymentsRefunded: String
    /// Where ``InventoryReserved`` is published (default `inventory.reserved`).
    public var inventoryReserved: String
    /// Where ``InventoryRejected`` is published (default `inventory.rejected`).
    public var inventoryRejected: String
    /// Where ``NotificationSent`` is published (default `notifications.sent`).
    public var notificationsSent: String

    /// The original demo's topic names; stable, since deployed brokers and dashboards use them.
    public static let defaults = Topics(
        ordersCreated: "orders.created",
        paymentsCompleted: "payments.completed",
        paymentsFailed: "payments.failed",
        paymentsRefunded: "payments.refunded",
        inventoryReserved: "inventory.reserved",
        inventoryRejected: "inventory.rejected",
        notificationsSent: "notifications.sent"
    )

    /// Topic names as given, one per event type.
    public init(
        ordersCreated: String,
        paymentsCompleted: String,
        paymentsFailed: String,
        paymentsRefunded: String,
        inventoryReserved: String,
        inventoryRejected: String,
        notificationsSent: String
    ) {
        self.ordersCreated = ordersCreated
        self.paymentsCompleted = paymentsCompleted
        self.paymentsFailed = paymentsFailed
        self.paymentsRefunded = paymentsRefunded
        self.inventoryReserved = inventoryReserved
        self.inventoryRejected = inventoryRejected
        self.notificationsSent = notificationsSent
    }

    /// The topic an event of this type is published to.
    public func topic(for type: EventType) -> String {
        switch type {
        case .orderCreated: ordersCreated
        case .paymentCompleted: paymentsCompleted
        case .paymentFailed: paymentsFailed
        case .paymentRefunded: paymentsRefunded
        case .inventoryReserved: inventoryReserved
        case .inventoryRejected: inventoryRejected
        case .notificationSent: notificationsSent
        }
    }

    /// Every event topic, in flow order.
    public var all: [String] {
        EventType.allCases.map { topic(for: $0) }
    }

    /// The dead-letter topic of `topic`: `<topic>.dlq`.
    public static func deadLetter(of topic: String) -> String {
        topic + ".dlq"
    }

    /// Every event topic and its dead-letter topic.
    public var allWithDeadLetters: [String] {
        all + all.map(Topics.deadLetter(of:))
    }
}
