import ServiceLifecycle
import Synchronization

/// A client's lifecycle state machine, shared by the client and its poll thread. The thread
/// holds this, never the client's owner, so the owner's `deinit` can still stop it.
final class ClientLifecycle<Machine: ~Copyable>: Sendable {
    /// Every transition goes through here; its actions say what the caller does next.
    let machine: Mutex<Machine>
    /// Read by the poll loop every round, without a lock (so the loop never contends with the
    /// client's callers); cleared only as the action of a transition that stops the thread.
    let keepPolling = Atomic<Bool>(true)

    init(_ machine: consuming sending Machine) {
        self.machine = Mutex(machine)
    }

    /// Performs a state machine's `.stopPollThread` action.
    func stopPollThread() {
        keepPolling.store(false, ordering: .releasing)
    }

    var isPolling: Bool { keepPolling.load(ordering: .acquiring) }

    /// Suspends until a transition resumes the waiter that `register` stored in the machine, or
    /// until `timeout` passes and `takeBack` removes it again (it is resumed with
    /// `timeoutValue`). Exactly one of them resumes it.
    /// - Parameter register: stores the waiter and returns nil, or returns the value to resume
    ///   with at once.
    func wait<T: Sendable>(
        timeout: Duration,
        timeoutValue: T,
        register: (inout Machine, CheckedContinuation<T, Never>) -> T?,
        takeBack: @escaping @Sendable (inout Machine) -> CheckedContinuation<T, Never>?
    ) async -> T {
        // Started once the waiter is registered, so even a zero timeout finds it to take back.
        let timer = Mutex<Task<Void, Never>?>(nil)
        defer { timer.withLock { $0?.cancel() } }
        return await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            if let now = machine.withLock({ register(&$0, continuation) }) {
                continuation.resume(returning: now)
                return
            }
            timer.withLock {
                $0 = Task {
                    try? await Task.sleep(for: timeout)
                    self.machine.withLock { takeBack(&$0) }?.resume(returning: timeoutValue)
                }
            }
        }
    }
}

/// The rest of a client's `run()` once its poll thread is started: suspends in `ended` until the
/// client is shut down, while a child task shuts it down on the graceful shutdown of the
/// surrounding `ServiceGroup` (with `budget`; only when `endingOnGracefulShutdown`) or on
/// cancellation (with none). An explicit shutdown ends it too.
func awaitShutdown(
    endingOnGracefulShutdown: Bool,
    budget: Duration,
    shutdown: @escaping @Sendable (Duration) async -> Void,
    ended: () async -> Void
) async {
    await withTaskGroup(of: Void.self) { group in
        group.addTask {
            if endingOnGracefulShutdown, (try? await gracefulShutdown()) != nil {
                await shutdown(budget)
            } else {
                if !endingOnGracefulShutdown { await waitForCancellation() }
                // Cancelled from outside, or by the line below once the client is shut down
                // (then this finds it done).
                await shutdown(.zero)
            }
        }
        await ended()
        group.cancelAll()
    }
}

/// Suspends until the current task is cancelled.
func waitForCancellation() async {
    let (never, continuation) = AsyncStream<Never>.makeStream()
    // An AsyncStream's iteration ends when the iterating task is cancelled.
    for await _ in never {}
    continuation.finish()
}
