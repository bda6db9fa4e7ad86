import Synchronization

/// The run/stop hand-shake between a client's poll thread and the task shutting it down.
final class PollThreadLifecycle: Sendable {
    private struct State {
        var running = true
        var exited = false
        var exitWaiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Polled by the thread's loop.
    var isRunning: Bool { state.withLock { $0.running } }

    /// Called by the poll thread as its last action.
    func threadExited() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.exited = true
            defer { state.exitWaiter = nil }
            return state.exitWaiter
        }
        waiter?.resume()
    }

    /// Asks the loop to stop and waits until the thread has exited or `timeout` passed.
    /// - Returns: false when the thread was still busy (for example a close blocked on an
    ///   unreachable broker); the caller may then give up on it.
    @discardableResult
    func stopAndWait(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.stopAndWait()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let exited = await group.next() ?? false
            group.cancelAll()
            return exited
        }
    }

    /// Asks the loop to stop and waits until the thread has exited. Idempotent.
    func stopAndWait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let exited = state.withLock { state -> Bool in
                state.running = false
                if state.exited { return true }
                state.exitWaiter = continuation
                return false
            }
            if exited { continuation.resume() }
        }
    }
}
