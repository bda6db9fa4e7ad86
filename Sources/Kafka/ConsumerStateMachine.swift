/// The lifecycle of a ``KafkaConsumer`` and its poll thread: who stops the thread, and who
/// waits for it to commit, leave the group and close. Guarded by the consumer's `Mutex`; every
/// method returns what the caller must do next, and a transition that cannot happen traps.
///
/// Every waiter is resumed exactly once: when the thread has closed the client, or when its own
/// timeout passes first (the thread may be blocked in librdkafka, closing against a dead broker).
struct ConsumerStateMachine: ~Copyable {
    enum State {
        /// The poll thread is fetching messages.
        case running
        /// The poll thread was told to stop and is committing and closing; `waiters` are the
        /// shutdown callers waiting for it, by id.
        case closing(waiters: [Int: CheckedContinuation<Bool, Never>])
        /// The poll thread has closed the client and exited.
        case closed
    }

    enum StopAction: Equatable {
        /// Finish the delivery of messages and stop the poll thread (``ClientLifecycle/stopPollThread()``).
        case stopPollThread
        case none
    }

    enum WaitAction: Equatable {
        case suspend
        /// The client is closed already: resume the caller at once.
        case resume
    }

    private(set) var state = State.running
    private var lastWaiterID = 0

    /// A caller asks for the close (``KafkaConsumer/shutdown(timeout:)``, or the consumer's
    /// `deinit`); only the first one stops the thread.
    mutating func shutdown() -> StopAction {
        switch state {
        case .running:
            state = .closing(waiters: [:])
            return .stopPollThread
        case .closing, .closed:
            return .none
        }
    }

    /// An id for ``waitForClose(id:_:)`` and ``closeWaitTimedOut(id:)``.
    mutating func nextWaiterID() -> Int {
        lastWaiterID += 1
        return lastWaiterID
    }

    mutating func waitForClose(id: Int, _ waiter: CheckedContinuation<Bool, Never>) -> WaitAction {
        switch state {
        case .running:
            preconditionFailure("waiting for a close that has not started")
        case .closing(var waiters):
            waiters[id] = waiter
            state = .closing(waiters: waiters)
            return .suspend
        case .closed:
            return .resume
        }
    }

    /// - Returns: the waiter to resume with false, unless the close resumed it already.
    mutating func closeWaitTimedOut(id: Int) -> CheckedContinuation<Bool, Never>? {
        guard case .closing(var waiters) = state else { return nil }
        let waiter = waiters.removeValue(forKey: id)
        state = .closing(waiters: waiters)
        return waiter
    }

    /// The poll thread's last event.
    /// - Returns: the waiters to resume with true.
    mutating func pollThreadExited() -> [CheckedContinuation<Bool, Never>] {
        switch state {
        case .running, .closed:
            preconditionFailure("a poll thread exited that was not told to stop")
        case .closing(let waiters):
            state = .closed
            return Array(waiters.values)
        }
    }
}
