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

/// The `run()` of a client as a `Service`: waits for the graceful shutdown, then shuts down with
/// `budget`; when the task is cancelled first, shuts down with none.
func runUntilGracefulShutdown(budget: Duration, shutdown: (Duration) async -> Void) async {
    do {
        try await gracefulShutdown()
        await shutdown(budget)
    } catch {
        await shutdown(.zero)
    }
}
