import Configuration
import Foundation
import GRDB
import Logging
import Metrics
import OrderEvents
import ServiceKit

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

    public static func migrate(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("notifications-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE notifications (
                        order_id TEXT PRIMARY KEY NOT NULL,
                        notification_id TEXT NOT NULL,
                        outcome TEXT NOT NULL,
                        reason TEXT,
                        recipient TEXT,
                        created_at TEXT NOT NULL
                    ) WITHOUT ROWID;
                    """
            )
        }
    }

    /// What an event means for the customer, or nil when it is not an outcome.
    static func outcome(of payload: EventPayload) -> (NotifiedOutcome, CancellationReason?, String?)? {
        switch payload {
        case .inventoryReserved(let reserved): (.completed, nil, reserved.customerEmail)
        case .paymentFailed(let failed): (.cancelled, failed.reason, failed.customerEmail)
        case .inventoryRejected(let rejected): (.cancelled, rejected.reason, rejected.customerEmail)
        default: nil
        }
    }

    public func handle(_ event: EventEnvelope, in db: Database) throws -> Reaction {
        guard let (outcome, reason, recipient) = Self.outcome(of: event.payload) else {
            throw EventRejected("notification-service does not consume \(event.type.rawValue) events")
        }
        let notificationId = UUID().uuidString.lowercased()
        try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO notifications (order_id, notification_id, outcome, reason, recipient, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            event.orderId, notificationId, outcome.rawValue, reason?.rawValue, recipient, Timestamp.format(Date()),
        ])
        guard db.changesCount == 1 else {
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
