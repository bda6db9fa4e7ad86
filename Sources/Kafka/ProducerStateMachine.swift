/// The lifecycle of a ``KafkaProducer``: which calls are accepted, and who flushes and stops
/// the poll thread. Guarded by the producer's `Mutex`; every method returns what the caller
/// must do next, and a transition that cannot happen traps.
///
/// Messages are enqueued while the lock is held in ``State/running``, so once the state has
/// left it nothing can enqueue any more: the poll thread's final purge cannot miss a message
/// (no purge loop racing late sends).
struct ProducerStateMachine: ~Copyable {
    enum State {
        /// Accepting messages.
        case running
        /// ``KafkaProducer/shutdown(timeout:)`` is flushing and stopping the poll thread;
        /// messages are refused. Later shutdown callers wait here to be resumed.
        case shuttingDown(waiters: [CheckedContinuation<Void, Never>])
        /// The poll thread was stopped; every message has its result.
        case shutDown
    }

    enum SubmitAction {
        case enqueue
        case reject
    }

    enum ShutdownAction {
        /// This caller flushes, stops the poll thread, then calls ``shutdownFinished()``.
        case flushAndStop
        /// Another caller is shutting down: wait with ``waitForShutdown(_:)``.
        case waitForShutdown
        case none
    }

    enum WaitAction {
        case suspend
        case resume
    }

    private var state = State.running

    func submit() -> SubmitAction {
        switch state {
        case .running: .enqueue
        case .shuttingDown, .shutDown: .reject
        }
    }

    mutating func shutdown() -> ShutdownAction {
        switch state {
        case .running:
            state = .shuttingDown(waiters: [])
            return .flushAndStop
        case .shuttingDown: return .waitForShutdown
        case .shutDown: return .none
        }
    }

    mutating func waitForShutdown(_ waiter: CheckedContinuation<Void, Never>) -> WaitAction {
        switch state {
        case .running:
            preconditionFailure("waiting for a shutdown that has not started")
        case .shuttingDown(var waiters):
            waiters.append(waiter)
            state = .shuttingDown(waiters: waiters)
            return .suspend
        case .shutDown:
            return .resume
        }
    }

    /// - Returns: the callers to resume.
    mutating func shutdownFinished() -> [CheckedContinuation<Void, Never>] {
        switch state {
        case .running, .shutDown:
            preconditionFailure("a shutdown finished that was not in progress")
        case .shuttingDown(let waiters):
            state = .shutDown
            return waiters
        }
    }
}
