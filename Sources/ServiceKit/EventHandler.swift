import Logging
import OrderEvents
import Storage

/// What a service does with one event, inside its store's transaction.
///
/// - Called at most once per event id with effect: the inbox skips repeats before `handle`.
/// - Runs inside a write transaction: read and change the service's tables through
///   `transaction`, and return the events to publish; they go to the outbox in the same
///   transaction. The same code runs on SQLite and PostgreSQL; on PostgreSQL, instances of the
///   service run handlers at once (for different events), so a check and the change it guards
///   are one statement, or the row is locked first.
/// - Throw ``EventRejected`` for an event that can never be applied (it is dead-lettered).
///   Any other error rolls back and is retried with backoff, so it must be transient.
public protocol EventHandler: Sendable {
    /// Applies `event` through `transaction` and says what to publish; called from the consume
    /// loop, one event at a time per partition, inside the write transaction that records it as
    /// processed.
    func handle(_ event: EventEnvelope, in transaction: any SQLTransaction) throws -> Reaction
}

/// The result of handling an event: events to publish and a log line for after the commit.
public struct Reaction: Sendable {
    /// Events to publish, written to the outbox in this order in the same transaction.
    public var events: [EventEnvelope]
    /// Logged at `level` once the transaction committed, with the order id and event ids.
    public var summary: String
    /// The level of ``summary``.
    public var level: Logger.Level
    /// Runs once after the transaction committed (for example to record a metric).
    public var onCommit: (@Sendable () -> Void)?

    /// A reaction; by default nothing is published and the summary is logged at info.
    public init(
        events: [EventEnvelope] = [],
        summary: String,
        level: Logger.Level = .info,
        onCommit: (@Sendable () -> Void)? = nil
    ) {
        self.events = events
        self.summary = summary
        self.level = level
        self.onCommit = onCommit
    }
}

/// An event that is well-formed JSON but can never be applied (for example a negative amount
/// or a type this service does not consume). The consume loop dead-letters it.
public struct EventRejected: Error, Sendable, CustomStringConvertible {
    /// Why the event can never be applied; logged and stored with the dead letter.
    public var reason: String

    /// A rejection for `reason`.
    public init(_ reason: String) {
        self.reason = reason
    }

    /// The reason.
    public var description: String { reason }
}
