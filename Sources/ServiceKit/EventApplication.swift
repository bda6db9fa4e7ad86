import OrderEvents
import Storage

extension EventStore {
    /// Applies one decoded event through `handler` inside the caller's write transaction, in a
    /// savepoint of its own: records its id in the inbox, runs the handler and writes the events
    /// it returns to the outbox, continuing `trace`. A handler may see a repeat (it runs before
    /// the inbox's answer is read), never commit one: handlers change nothing but the database. The one path by which an event takes effect,
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
        do {
            return try transaction.savepoint {
                // The inbox row goes to the database with the handler's first read (one round
                // trip on PostgreSQL, not two), so a repeat is known only after the handler ran:
                // the savepoint then takes back whatever it changed.
                let recorded = try transaction.executeLater(Self.recordInInbox, inboxArguments(event, topic: topic))
                let handled: Reaction
                do {
                    handled = try handler.handle(event, in: transaction)
                } catch {
                    // A repeat is skipped, not rejected: its order may have moved on since.
                    if try recorded.get() == 0 { throw Repeat() }
                    throw error
                }
                guard try recorded.get() == 1 else { throw Repeat() }
                try enqueue(handled.events, trace: trace, in: transaction)
                return handled
            }
        } catch is Repeat {
            return nil
        }
    }
}

/// The event's id was in the inbox already: what the handler did is rolled back.
private struct Repeat: Error {}
