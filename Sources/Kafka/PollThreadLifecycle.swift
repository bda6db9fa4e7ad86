import Synchronization

/// The run/stop hand-shake between a client's poll thread and the tasks shutting it down.
///
/// Every waiter is resumed exactly once: when the thread exits, or when its own timeout passes
/// first (the thread may be blocked in librdkafka, for example closing against a dead broker).
final class PollThreadLifecycle: Sendable {
    private struct State {
        var running = true
        var exited = false
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    }

    private let state = Mutex(State())

    /// Polled by the thread's loop.
    var isRunning: Bool { state.withLock { $0.running } }

    /// Called by the poll thread as its last action.
    func threadExited() {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.exited = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// Asks the loop to stop without waiting (an owner being released).
    func stop() {
        state.withLock { $0.running = false }
    }

    /// Asks the loop to stop and waits until the thread has exited or `timeout` passed.
    /// Idempotent; any number of callers may wait.
    /// - Returns: false when the thread was still busy when the timeout passed.
    @discardableResult
    func stopAndWait(timeout: Duration) async -> Bool {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.resume(id, with: false)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let exited = state.withLock { state -> Bool in
                state.running = false
                if state.exited { return true }
                state.waiters[id] = continuation
                return false
            }
            if exited { continuation.resume(returning: true) }
        }
    }

    private func resume(_ id: Int, with result: Bool) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.resume(returning: result)
    }
}
