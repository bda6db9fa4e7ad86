import OrderEvents

/// The status of an order. Raw values are the API's strings.
public enum OrderStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Accepted, waiting for the payment.
    case pending = "PENDING"
    /// Paid, waiting for the stock.
    case paid = "PAID"
    /// Paid and reserved, waiting for the notification.
    case reserved = "RESERVED"
    /// Done: the customer was notified.
    case completed = "COMPLETED"
    /// Declined or out of stock (see the order's `reason`).
    case cancelled = "CANCELLED"

    /// COMPLETED or CANCELLED: no fact moves the order any more.
    public var isTerminal: Bool { self == .completed || self == .cancelled }
}

/// A fact about an order that arrives as an event from another service.
public enum OrderFact: Sendable, Hashable, CustomStringConvertible {
    /// `payments.completed`.
    case paid
    /// `payments.failed`.
    case declined
    /// `inventory.reserved`.
    case reserved
    /// `inventory.rejected`.
    case rejected
    /// `notifications.sent`, with the outcome the customer was told.
    case notified(NotifiedOutcome)
    /// `payments.refunded`.
    case refunded

    /// The fact in words, for logs.
    public var description: String {
        switch self {
        case .paid: "paid"
        case .declined: "declined"
        case .reserved: "reserved"
        case .rejected: "rejected"
        case .notified(let outcome): "notified (\(outcome.rawValue))"
        case .refunded: "refunded"
        }
    }

    /// The fact an event states, or nil for an event order-service does not track.
    public init?(_ payload: EventPayload) {
        switch payload {
        case .paymentCompleted: self = .paid
        case .paymentFailed: self = .declined
        case .inventoryReserved: self = .reserved
        case .inventoryRejected: self = .rejected
        case .notificationSent(let sent): self = .notified(sent.outcome)
        case .paymentRefunded: self = .refunded
        case .orderCreated: return nil
        }
    }
}

/// The guarded order state machine:
///
/// ```
/// PENDING ──paid──▶ PAID ──reserved──▶ RESERVED ──notified──▶ COMPLETED
///    └─declined─▶ CANCELLED(payment_declined)
///                     PAID └─rejected─▶ CANCELLED(out_of_stock)
/// ```
///
/// Events of different topics can arrive out of causal order (order-service reads several
/// topics), so a fact whose predecessor has not been seen yet is *deferred* and re-applied
/// after the next transition; a fact that can never apply from here is *refused*.
public enum OrderStateMachine {
    /// What to do with a fact.
    public enum Decision: Sendable, Hashable {
        /// Move to `status` (with `reason` when cancelled).
        case transition(to: OrderStatus, reason: CancellationReason?)
        /// Valid, but changes no status (a cancellation notice, a refund).
        case acknowledge
        /// Valid later: keep it until the order has moved on.
        case postpone
        /// Can never apply from the current status.
        case refuse
    }

    /// The decision for `fact` arriving at an order in `status`; pure and total.
    public static func decide(_ status: OrderStatus, _ fact: OrderFact) -> Decision {
        switch (status, fact) {
        case (.pending, .paid): .transition(to: .paid, reason: nil)
        case (.pending, .declined): .transition(to: .cancelled, reason: .paymentDeclined)
        case (.paid, .reserved): .transition(to: .reserved, reason: nil)
        case (.paid, .rejected): .transition(to: .cancelled, reason: .outOfStock)
        case (.reserved, .notified(.completed)): .transition(to: .completed, reason: nil)
        case (.cancelled, .notified(.cancelled)), (.cancelled, .refunded): .acknowledge
        // Facts that follow a transition not seen yet.
        case (.pending, .reserved), (.pending, .rejected), (.pending, .refunded),
            (.pending, .notified), (.paid, .notified), (.paid, .refunded):
            .postpone
        default: .refuse
        }
    }
}
