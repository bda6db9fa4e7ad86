import Foundation
import Logging
import Metrics
import OrderEvents
import ServiceKit
import Storage
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
///   the earlier one's row); an unexpected error confined to the savepoint fails only that
///   order. An error after which SQLite may have rolled back the whole transaction (disk full,
///   I/O error, out of memory, busy, abort, corruption, or no transaction left open) fails the
///   whole batch: every submitter gets the error, so no order is answered 202 for a row that
///   was rolled back.
/// - Order: orders are written in arrival order, so their `orders.created` events keep it.
/// - Latency: there is no timer. A submission arriving while no commit runs is written at
///   once; those arriving during a commit form the next batch. The swift-metrics recorder
///   `order_intake_batch_orders` records the orders of every commit.
/// - Shutdown: runs as a `Service` after the HTTP server in the group, so it stops only once
///   the server stopped taking requests; what was submitted by then is still committed, and a
///   later submission fails with ``IntakeError/shuttingDown``.
public final class OrderIntake: Service, Sendable {
    /// The most orders written in one transaction.
    public static let maximumBatch = 1000
    /// The most on PostgreSQL, where each order's savepoint is a subtransaction (see
    /// ``EventConsumerService/maximumPostgreSQLBatch``).
    public static let maximumPostgreSQLBatch = EventConsumerService.maximumPostgreSQLBatch

    /// What became of one submitted order.
    public enum Acceptance: Sendable {
        /// Stored with its `orders.created` event.
        case accepted(OrderRecord)
        /// The same order (same id and body) was stored before: nothing changed.
        case repeated(OrderRecord)
        /// An order with this id but another body exists: nothing changed.
        case conflict
    }

    /// Why a submission got no answer.
    public enum IntakeError: Error, CustomStringConvertible {
        /// The intake stopped (graceful shutdown); the order was not stored.
        case shuttingDown

        /// What happened and what to do.
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
        /// Submissions taken so far and the largest batch committed, for tests.
        var statistics = Statistics()
    }

    /// What the intake did so far: for tests, which must see that batching happened.
    struct Statistics: Sendable, Equatable {
        var submitted = 0
        var commits = 0
        var largestBatch = 0
    }

    private let store: EventStore
    private let relay: OutboxRelay
    private let logger: Logger
    private let state = Mutex(State())
    /// Wakes the loop of ``run()`` for the next submission or shutdown, so it never polls.
    private let signal = WakeSignal()
    private let batchOrders = Recorder(label: "order_intake_batch_orders")

    /// An intake committing into `store` and waking `relay` after each commit; ``run()`` must run
    /// for submissions to be answered.
    public init(store: EventStore, relay: OutboxRelay, logger: Logger) {
        self.store = store
        self.relay = relay
        self.logger = logger
    }

    /// Stores `order` under `orderId` with its `orders.created` event (continuing `trace`), or
    /// answers a repeat or conflict. Returns after the commit.
    ///
    /// Cancellation does not withdraw a submission: once submitted, the order is committed with
    /// its batch even if the calling task is cancelled (the client disconnected), and this call
    /// still returns only after that commit. So a client that got no answer and retries with the
    /// same `orderId` gets 200 with the stored order; one that sent no `orderId` gets a second
    /// order, since a new id is drawn for every request.
    /// - Throws: ``IntakeError/shuttingDown`` after shutdown; the database's error when the
    ///   transaction could not commit (nothing of the order is stored then), or when an error
    ///   in the batch may have rolled the whole transaction back (nothing of the batch is stored).
    public func submit(_ order: OrderRequest, orderId: String, trace: TraceContext) async throws -> Acceptance {
        try await withCheckedThrowingContinuation { continuation in
            let submission = Submission(order: order, orderId: orderId, trace: trace, continuation: continuation)
            let accepted = state.withLock { state -> Bool in
                guard !state.finished else { return false }
                state.waiting.append(submission)
                state.statistics.submitted += 1
                return true
            }
            guard accepted else {
                continuation.resume(throwing: IntakeError.shuttingDown)
                return
            }
            signal.signal()
        }
    }

    /// Submissions waiting for the next batch (not those of a commit in flight).
    var queuedSubmissions: Int { state.withLock { $0.waiting.count } }

    var statistics: Statistics { state.withLock { $0.statistics } }

    /// Commits batches until graceful shutdown, then commits what was submitted before it and
    /// fails later submissions with ``IntakeError/shuttingDown``.
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
        let limit = store.database.dialect == .postgres ? Self.maximumPostgreSQLBatch : Self.maximumBatch
        while !Task.isCancelled {
            let (batch, finished) = state.withLock { state -> ([Submission], Bool) in
                let count = min(state.waiting.count, limit)
                let batch = Array(state.waiting.prefix(count))
                state.waiting.removeFirst(count)
                return (batch, state.finished)
            }
            if !batch.isEmpty { return batch }
            if finished { return nil }
            await signal.wait()
        }
        return nil
    }

    private func commit(_ batch: [Submission]) async {
        let store = self.store
        let results: [Result<Acceptance, any Error>]
        do {
            results = try await store.database.write { transaction in
                try batch.map { submission in
                    do {
                        return .success(try Self.write(submission, store: store, in: transaction))
                    } catch  where !transaction.isIntact(after: error) {
                        // Orders before this one may be gone with the transaction: fail them all.
                        throw error
                    } catch {
                        return .failure(error)
                    }
                }
            }
        } catch {
            logger.error("could not store \(batch.count) order(s); each was answered 503: \(error)")
            for submission in batch { submission.continuation.resume(throwing: error) }
            return
        }
        batchOrders.record(batch.count)
        state.withLock { state in
            state.statistics.commits += 1
            state.statistics.largestBatch = max(state.statistics.largestBatch, batch.count)
        }
        if results.contains(where: { if case .success(.accepted) = $0 { true } else { false } }) {
            relay.wake()
        }
        for (submission, result) in zip(batch, results) {
            submission.continuation.resume(with: result)
        }
    }

    /// Writes one order in a savepoint of the batch's transaction, or answers a repeat from the
    /// stored order.
    ///
    /// The same order posted at once to two instances (PostgreSQL): the second insert waits for
    /// the first transaction and then fails on the unique order id. The savepoint is rolled back
    /// and tried once more; by then the first order is committed, and the second is answered
    /// from it as any repeat is.
    private static func write(
        _ submission: Submission,
        store: EventStore,
        in transaction: any SQLTransaction
    ) throws -> Acceptance {
        do {
            return try insertOrAnswer(submission, store: store, in: transaction)
        } catch  where StoreFailure(error)?.isTransient == true && transaction.isIntact(after: error) {
            return try insertOrAnswer(submission, store: store, in: transaction)
        }
    }

    private static func insertOrAnswer(
        _ submission: Submission,
        store: EventStore,
        in transaction: any SQLTransaction
    ) throws -> Acceptance {
        try transaction.savepoint {
            let order = submission.order
            // Only a repeat needs the whole stored order: a new one is answered from what is written.
            if let fingerprint = try OrderTables.fingerprint(submission.orderId, in: transaction) {
                if fingerprint == order.fingerprint,
                    let existing = try OrderTables.fetch(submission.orderId, in: transaction)
                {
                    return .repeated(existing)
                }
                return .conflict
            }
            let now = Date()
            let createdAt = Timestamp.format(now)
            let correlationId = UUID().uuidString.lowercased()
            try OrderTables.insert(
                order,
                orderId: submission.orderId,
                correlationId: correlationId,
                at: createdAt,
                in: transaction
            )
            let event = EventEnvelope(
                occurredAt: now,
                orderId: submission.orderId,
                correlationId: correlationId,
                payload: .orderCreated(
                    OrderCreated(
                        amount: order.amount,
                        currency: order.currency,
                        customerEmail: order.customerEmail,
                        items: order.items
                    )
                )
            )
            try store.enqueue([event], trace: submission.trace, in: transaction)
            return .accepted(
                OrderRecord(
                    orderId: submission.orderId,
                    status: .pending,
                    reason: nil,
                    amount: order.amount,
                    currency: order.currency,
                    customerEmail: order.customerEmail,
                    items: order.items,
                    refunded: false,
                    createdAt: createdAt,
                    history: [OrderRecord.HistoryEntry(status: .pending, at: createdAt)],
                    fingerprint: order.fingerprint,
                    correlationId: correlationId
                )
            )
        }
    }
}
