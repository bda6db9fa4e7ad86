import Foundation
import GRDB
import Logging
import OrderEvents
import ServiceKit
import ServiceLifecycle
import Synchronization

/// Group commit for the order API: concurrent POSTs share one write transaction, so a burst
/// of orders costs one commit (one fsync) instead of one each.
///
/// - Durability: ``submit(_:)`` returns only after the transaction holding the order
///   committed (SQLite `synchronous = FULL`), so an accepted order survives a kill -9 or a
///   power cut, exactly as with a transaction per request.
/// - Isolation: each order is written in its own savepoint. A repeat or a conflicting body is
///   answered on its own, also when the first copy is in the same batch (the later one sees
///   the earlier one's row); an unexpected error fails only that order.
/// - Order: orders are written in arrival order, so their `orders.created` events keep it.
/// - Latency: there is no timer. A submission arriving while no commit runs is written at
///   once; those arriving during a commit form the next batch.
/// - Shutdown: runs as a `Service` after the HTTP server in the group, so it stops only once
///   the server stopped taking requests; what was submitted by then is still committed, and a
///   later submission fails with ``IntakeError/shuttingDown``.
public final class OrderIntake: Service, Sendable {
    /// The most orders written in one transaction.
    public static let maximumBatch = 1000

    /// What became of one submitted order.
    public enum Acceptance: Sendable {
        /// Stored with its `orders.created` event.
        case accepted(OrderRecord)
        /// The same order (same id and body) was stored before: nothing changed.
        case repeated(OrderRecord)
        /// An order with this id but another body exists: nothing changed.
        case conflict
    }

    public enum IntakeError: Error, CustomStringConvertible {
        case shuttingDown

        public var description: String { "the order service is shutting down; retry on another instance or later" }
    }

    /// One order waiting for its transaction.
    struct Submission: Sendable {
        var order: OrderRequest
        var orderId: String
        var trace: TraceContext
        var continuation: CheckedContinuation<Acceptance, any Error>
    }

    private struct State {
        var waiting: [Submission] = []
        var finished = false
    }

    private let store: EventStore
    private let relay: OutboxRelay
    private let logger: Logger
    private let state = Mutex(State())
    private let signal = WakeSignal()

    public init(store: EventStore, relay: OutboxRelay, logger: Logger) {
        self.store = store
        self.relay = relay
        self.logger = logger
    }

    /// Stores `order` under `orderId` with its `orders.created` event (continuing `trace`), or
    /// answers a repeat or conflict. Returns after the commit.
    /// - Throws: ``IntakeError/shuttingDown`` after shutdown; the database's error when the
    ///   transaction could not commit (nothing of the order is stored then).
    public func submit(_ order: OrderRequest, orderId: String, trace: TraceContext) async throws -> Acceptance {
        try await withCheckedThrowingContinuation { continuation in
            let submission = Submission(order: order, orderId: orderId, trace: trace, continuation: continuation)
            let accepted = state.withLock { state -> Bool in
                guard !state.finished else { return false }
                state.waiting.append(submission)
                return true
            }
            guard accepted else {
                continuation.resume(throwing: IntakeError.shuttingDown)
                return
            }
            signal.signal()
        }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            while let batch = await nextBatch() {
                await commit(batch)
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.finished = true }
            self.signal.finish()
        }
        // Cancellation (not graceful shutdown) can end the loop with submissions waiting.
        let left = state.withLock { state -> [Submission] in
            state.finished = true
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for submission in left { submission.continuation.resume(throwing: IntakeError.shuttingDown) }
    }

    /// Waits for submissions; nil once finished and drained, or cancelled.
    private func nextBatch() async -> [Submission]? {
        while !Task.isCancelled {
            let (batch, finished) = state.withLock { state -> ([Submission], Bool) in
                let count = min(state.waiting.count, Self.maximumBatch)
                let batch = Array(state.waiting.prefix(count))
                state.waiting.removeFirst(count)
                return (batch, state.finished)
            }
            if !batch.isEmpty { return batch }
            if finished { return nil }
            await signal.wait(timeout: .seconds(1))
        }
        return nil
    }

    private func commit(_ batch: [Submission]) async {
        let store = self.store
        let results: [Result<Acceptance, any Error>]
        do {
            results = try await store.database.write { db in
                batch.map { submission in
                    Result { try Self.write(submission, store: store, in: db) }
                }
            }
        } catch {
            logger.error("could not store \(batch.count) order(s); each was answered 503: \(error)")
            for submission in batch { submission.continuation.resume(throwing: error) }
            return
        }
        if results.contains(where: { if case .success(.accepted) = $0 { true } else { false } }) {
            relay.wake()
        }
        for (submission, result) in zip(batch, results) {
            submission.continuation.resume(with: result)
        }
    }

    private static func write(_ submission: Submission, store: EventStore, in db: Database) throws -> Acceptance {
        var acceptance = Acceptance.conflict
        try db.inSavepoint {
            let order = submission.order
            if let existing = try OrderTables.fetch(submission.orderId, in: db) {
                acceptance = existing.fingerprint == order.fingerprint ? .repeated(existing) : .conflict
                return .commit
            }
            let now = Date()
            let correlationId = UUID().uuidString.lowercased()
            try OrderTables.insert(order, orderId: submission.orderId, correlationId: correlationId, at: Timestamp.format(now), in: db)
            let event = EventEnvelope(
                occurredAt: now, orderId: submission.orderId, correlationId: correlationId,
                payload: .orderCreated(
                    OrderCreated(amount: order.amount, currency: order.currency, customerEmail: order.customerEmail, items: order.items)
                )
            )
            try store.enqueue([event], trace: submission.trace, in: db)
            guard let stored = try OrderTables.fetch(submission.orderId, in: db) else {
                throw OrderNotReadBack(orderId: submission.orderId)
            }
            acceptance = .accepted(stored)
            return .commit
        }
        return acceptance
    }

    /// The row just inserted could not be read back in the same transaction (a schema bug).
    struct OrderNotReadBack: Error, CustomStringConvertible {
        var orderId: String
        var description: String { "order \(orderId) was inserted but could not be read back" }
    }
}
