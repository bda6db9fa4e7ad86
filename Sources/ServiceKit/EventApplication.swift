import OrderEvents
import Storage

extension EventStore {
    /// Applies one decoded event through `handler` inside the caller's write transaction, in a
    /// savepoint of its own: records its id in the inbox, runs the handler and writes the events
    /// it returns to the outbox, continuing `trace`. The one path by which an event takes effect,
    /// for the consume loop and for an operator's replay of a dead letter alike.
    /// - Returns: the handler's reaction, or nil when the inbox already had the event's id (a
    ///   repeat: nothing changed).
    /// - Throws: ``EventRejected`` from the handler, or any other error of the handler or the
    ///   database; the savepoint is rolled back first, so nothing of this event remains.
    func apply(
        _ event: EventEnvelope,
        topic: String,
        trace: TraceContext?,
        handler: any EventHandler,
        in transaction: any SQLTransaction
    ) throws -> Reaction? {
        try transaction.savepoint {
            guard try recordInInbox(event, topic: topic, in: transaction) else { return nil }
            let handled = try handler.handle(event, in: transaction)
            try enqueue(handled.events, trace: trace, in: transaction)
            return handled
        }
    }
}
