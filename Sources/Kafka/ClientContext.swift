import Foundation
import Logging
import Synchronization

/// State that librdkafka's C callbacks reach through the client's opaque pointer.
///
/// Callbacks run on librdkafka's threads or on the client's poll thread, so everything here is
/// either immutable or guarded by its own lock.
final class ClientContext: Sendable {
    let logger: Logger
    let statistics: KafkaStatisticsRecorder
    /// Set by consumers: told about partition assignment and revocation on the poll thread.
    let rebalance: RebalanceHandler?

    init(logger: Logger, statistics: KafkaStatisticsRecorder, rebalance: RebalanceHandler? = nil) {
        self.logger = logger
        self.statistics = statistics
        self.rebalance = rebalance
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> ClientContext? {
        opaque.map { Unmanaged<ClientContext>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// A consumer's part in a rebalance; the RDKafka layer does the assigning, committing and
/// unassigning around these calls, on the poll thread.
struct RebalanceHandler: Sendable {
    /// After `partitions` were assigned (possibly none, in a group with more members than
    /// partitions); returns those of them to pause at once (the consumer's buffer is full).
    var assigned: @Sendable (_ partitions: Set<TopicPartition>) -> Set<TopicPartition>
    /// Before the stored offsets are committed and `partitions` given up: the consumer waits
    /// here for the messages of those partitions that it handed out.
    var revoking: @Sendable (_ partitions: Set<TopicPartition>) -> Void
    /// The member lost its group involuntarily (before the revocation of what it held):
    /// `reason` says why and that librdkafka rejoins.
    var membershipLost: @Sendable (_ reason: String) -> Void
}

/// Collects the delivery reports of one ``KafkaProducer/submit(_:)`` call.
///
/// Results are filled in by librdkafka's delivery-report callback on the producer's poll thread
/// (or synchronously by the submitting thread for messages that could not be enqueued) and are
/// handed out two ways, which may be used together: ``results()`` once every message has one,
/// and ``nextResults()`` as they arrive. All state is behind one lock; continuations are resumed
/// outside it.
final class DeliveryBatch: Sendable {
    typealias Results = [Result<DeliveryReport, KafkaError>]

    private struct State {
        var results: [Result<DeliveryReport, KafkaError>?]
        var remaining: Int
        /// Callers of ``results()`` waiting for the last report.
        var waiters: [CheckedContinuation<Results, Never>] = []
        /// Callers of ``cancellableResults()`` waiting for the last report, by id.
        var cancellableWaiters: [Int: CheckedContinuation<Results, any Error>] = [:]
        var nextWaiterID = 0
        /// Results not yet handed out by ``nextResults()``, in arrival order.
        var fresh: [PendingDeliveries.Settled] = []
        /// Results ``nextResults()`` has handed out so far.
        var handedOut = 0
        var progressWaiter: CheckedContinuation<[PendingDeliveries.Settled], Never>?
    }

    private let state: Mutex<State>
    let count: Int

    init(count: Int) {
        self.count = count
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count))
    }

    /// Every result, in message order, once the last one is in.
    func results() async -> Results {
        await withCheckedContinuation { (continuation: CheckedContinuation<Results, Never>) in
            let ready = state.withLock { state -> Results? in
                guard state.remaining == 0 else {
                    state.waiters.append(continuation)
                    return nil
                }
                return state.results.map { $0! }
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Every result, in message order, once the last one is in; throws `CancellationError` when
    /// the waiting task is cancelled first (the results are kept for later calls).
    func cancellableResults() async throws -> Results {
        let id = state.withLock { state -> Int in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Results, any Error>) in
                enum Outcome {
                    case ready(Results)
                    case cancelled
                    case waiting
                }
                let outcome = state.withLock { state -> Outcome in
                    if state.remaining == 0 { return .ready(state.results.map { $0! }) }
                    if Task.isCancelled { return .cancelled }
                    state.cancellableWaiters[id] = continuation
                    return .waiting
                }
                switch outcome {
                case .ready(let results): continuation.resume(returning: results)
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .waiting: break
                }
            }
        } onCancel: {
            state.withLock { $0.cancellableWaiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    /// The results that arrived since the previous call, sorted by index, waiting until there is
    /// at least one; empty once all `count` have been handed out. One caller at a time.
    func nextResults() async -> [PendingDeliveries.Settled] {
        await withCheckedContinuation { (continuation: CheckedContinuation<[PendingDeliveries.Settled], Never>) in
            let ready = state.withLock { state -> [PendingDeliveries.Settled]? in
                precondition(state.progressWaiter == nil, "PendingDeliveries.nextResults() called concurrently")
                guard state.fresh.isEmpty, state.handedOut < count else { return Self.takeFresh(&state) }
                state.progressWaiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private static func takeFresh(_ state: inout State) -> [PendingDeliveries.Settled] {
        var taken = state.fresh
        state.fresh = []
        state.handedOut += taken.count
        taken.sort { $0.index < $1.index }
        return taken
    }

    /// Records message `index`'s result (the first one wins) and resumes whoever it completes.
    func complete(_ index: Int, with result: Result<DeliveryReport, KafkaError>) {
        struct Wakeups {
            var waiters: [CheckedContinuation<Results, Never>] = []
            var cancellableWaiters: [CheckedContinuation<Results, any Error>] = []
            var all: Results = []
            var progress: CheckedContinuation<[PendingDeliveries.Settled], Never>?
            var fresh: [PendingDeliveries.Settled] = []
        }
        let wakeups = state.withLock { state -> Wakeups in
            var wakeups = Wakeups()
            guard state.results[index] == nil else { return wakeups }
            state.results[index] = result
            state.remaining -= 1
            state.fresh.append(PendingDeliveries.Settled(index: index, result: result))
            if state.remaining == 0, !state.waiters.isEmpty || !state.cancellableWaiters.isEmpty {
                wakeups.all = state.results.map { $0! }
                swap(&wakeups.waiters, &state.waiters)
                wakeups.cancellableWaiters = Array(state.cancellableWaiters.values)
                state.cancellableWaiters = [:]
            }
            if let progress = state.progressWaiter {
                state.progressWaiter = nil
                wakeups.progress = progress
                wakeups.fresh = Self.takeFresh(&state)
            }
            return wakeups
        }
        for waiter in wakeups.waiters { waiter.resume(returning: wakeups.all) }
        for waiter in wakeups.cancellableWaiters { waiter.resume(returning: wakeups.all) }
        wakeups.progress?.resume(returning: wakeups.fresh)
    }

    /// Fails message `index` with `error` and every later one as ``KafkaError/skipped``.
    func failRemaining(from index: Int, with error: KafkaError) {
        for position in index..<count { complete(position, with: .failure(position == index ? error : .skipped)) }
    }
}

/// One message's place in its ``DeliveryBatch``, passed through librdkafka as the message opaque.
final class DeliverySlot: Sendable {
    let batch: DeliveryBatch
    let index: Int

    init(batch: DeliveryBatch, index: Int) {
        self.batch = batch
        self.index = index
    }
}

/// Where a produced message landed.
public struct DeliveryReport: Sendable, Hashable {
    /// The topic the message was stored in.
    public var topic: String
    /// The partition the broker stored it in (same key, same partition).
    public var partition: Int32
    /// Its offset in that partition; offsets of one partition grow in send order.
    public var offset: Int64
}
