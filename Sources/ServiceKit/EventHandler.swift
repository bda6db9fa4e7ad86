import GRDB
import Logging
import OrderEvents

/// What a service does with one event, inside its store's transaction.
///
/// - Called at most once per event id with effect: the inbox skips repeats before `handle`.
/// - Runs inside a write transaction: read and change the service's tables through `db`, and
///   return the events to publish; they go to the outbox in the same transaction.
/// - Throw ``EventRejected`` for an event that can never be applied (it is dead-lettered).
///   Any other error rolls back and is retried with backoff, so it must be transient.
public protocol EventHandler: Sendable {
    func handle(_ event: EventEnvelope, in db: Database) throws -> Reaction
}

/// The result of handling an event: events to publish and a log line for after the commit.
public struct Reaction: Sendable {
    public var events: [EventEnvelope]
    /// Logged at `level` once the transaction committed, with the order id and event ids.
    public var summary: String
    public var level: Logger.Level
    /// Runs once after the transaction committed (for example to record a metric).
    public var onCommit: (@Sendable () -> Void)?

    public init(events: [EventEnvelope] = [], summary: String, level: Logger.Level = .info, onCommit: (@Sendable () -> Void)? = nil) {
        self.events = events
        self.summary = summary
        self.level = level
        self.onCommit = onCommit
    }
}

/// An event that is well-formed JSON but can never be applied (for example a negative amount
/// or a type this service does not consume). The consume loop dead-letters it.
public struct EventRejected: Error, Sendable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }
}
