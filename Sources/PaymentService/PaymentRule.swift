import OrderEvents

/// The documented approval rule: a payment is approved when its amount is at most `limit`
/// (`PAYMENT_LIMIT`, default 10000), and declined (`payment_declined`) otherwise.
public struct PaymentRule: Sendable, Hashable {
    public static let defaultLimit = Amount(exactly: "10000")!

    public var limit: Amount

    public init(limit: Amount = PaymentRule.defaultLimit) {
        self.limit = limit
    }

    public enum Decision: Sendable, Hashable {
        case approve
        case decline(detail: String)
    }

    public func decide(_ amount: Amount) -> Decision {
        amount <= limit ? .approve : .decline(detail: "amount \(amount) exceeds the limit \(limit)")
    }
}
