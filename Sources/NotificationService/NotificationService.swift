import Configuration
import Foundation
import Logging
import Metrics
import OrderEvents
import ServiceKit
import Storage

/// notification-service: "sends" (logs and records) exactly one notification per order
/// outcome — completed when stock is reserved, cancelled when payment is declined or stock is
/// short — and publishes `notifications.sent`.
public struct NotificationService: PlatformService {
    public static let identity = ServiceIdentity(
        name: "notification-service",
        metricsPort: 9103,
        groupIdVariable: "NOTIFICATION_GROUP_ID",
        subscriptions: { [$0.inventoryReserved, $0.paymentsFailed, $0.inventoryRejected] }
    )

    public init(
        configuration: ServiceConfiguration,
        reader: ConfigReader,
        logger: Logger
    ) throws(ServiceConfigurationError) {
        for outcome in [NotifiedOutcome.completed, .cancelled] {
            Counter(label: "notifications_sent_total", dimensions: [("outcome", outcome.rawValue)]).increment(by: 0)
        }
    }

    public init() {}

    public static let migrations = [
        Migration(
            "notifications-v1",
            portable: """
                CREATE TABLE notifications (
                    order_id TEXT PRIMARY KEY NOT NULL,
                    notification_id TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    reason TEXT,
                    recipient TEXT,
                    created_at TEXT NOT NULL
                ){KEYED};
                """
        )
    ]

    /// What an event means for the customer, or nil when it is not an outcome.
    static func outcome(of payload: EventPayload) -> (NotifiedOutcome, CancellationReason?, String?)? {
        switch payload {
        case .inventoryReserved(let reserved): (.completed, nil, reserved.customerEmail)
        case .paymentFailed(let failed): (.cancelled, failed.reason, failed.customerEmail)
        case .inventoryRejected(let rejected): (.cancelled, rejected.reason, rejected.customerEmail)
        default: nil
        }
    }

    public func handle(_ event: EventEnvelope, in transaction: any SQLTransaction) throws -> Reaction {
        guard let (outcome, reason, recipient) = Self.outcome(of: event.payload) else {
            throw EventRejected("notification-service does not consume \(event.type.rawValue) events")
        }
        let notificationId = UUID().uuidString.lowercased()
        // One notification per order, also when two instances handle two outcome events of it at
        // once: the second insert waits for the first and inserts nothing.
        let inserted = try transaction.execute(
            """
            INSERT INTO notifications (order_id, notification_id, outcome, reason, recipient, created_at)
            VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """,
            [event.orderId, notificationId, outcome.rawValue, reason?.rawValue, recipient, Timestamp.format(Date())]
        )
        guard inserted == 1 else {
            return Reaction(
                summary: "a notification for order \(event.orderId) was already sent; not sending another",
                level: .notice
            )
        }
        let sent = NotificationSent(
            notificationId: notificationId,
            outcome: outcome,
            reason: reason,
            channel: "log",
            recipient: recipient
        )
        let detail = reason.map { "\(outcome.rawValue), \($0.rawValue)" } ?? outcome.rawValue
        return Reaction(
            events: [event.caused(.notificationSent(sent))],
            summary: "sent notification (\(detail)) to \(recipient ?? "the customer"), published notifications.sent",
            onCommit: {
                Counter(label: "notifications_sent_total", dimensions: [("outcome", outcome.rawValue)]).increment()
            }
        )
    }
}
