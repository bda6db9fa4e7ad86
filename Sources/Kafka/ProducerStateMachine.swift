/// The lifecycle of a ``KafkaProducer`` and its poll thread: which calls are accepted, and who
/// flushes and stops the thread. Guarded by the producer's `Mutex`; every method returns what
/// the caller must do next, and a transition that cannot happen traps.
///
/// Messages are enqueued while the lock is held in ``State/running``, so once the state has
/// left it nothing can enqueue any more: the poll thread's final purge cannot miss a message
/// (no purge loop racing late sends).
struct ProducerStateMachine: ~Copyable {
    enum State {
        /// Accepting messages.
        case running
        /// ``KafkaProducer/shutdown(timeout:)`` is flushing; messages are refused. Later shutdown
        /// callers wait here to be resumed.
        case flushing(waiters: [CheckedContinuation<Void, Never>])
        /// Flushed: the poll thread was told to stop, fails what is left and exits.
        case stoppingPollThread(waiters: [CheckedContinuation<Void, Never>], thread: PollThreadExit)
        /// Every message has its result; the poll thread has exited, or is about to (it did
        /// not within the shutdown's wait).
        case shutDown
        /// The producer was released without a shutdown; its poll thread was told to stop.
        case released
    }

    /// The flushing caller's wait for the poll thread.
    enum PollThreadExit {
        case stopping
        case awaited(CheckedContinuation<Void, Never>)
        case exited
    }

    enum SubmitAction {
        case enqueue
        case reject
    }

    enum ShutdownAction {
        /// This caller flushes, then calls ``flushed()``.
        case flush
        /// Another caller is shutting down: wait with ``waitForShutdown(_:)``.
        case waitForShutdown
        case none
    }

    enum StopAction: Equatable {
        /// ``ClientLifecycle/stopPollThread()``.
        case stopPollThread
        case none
    }

    enum WaitAction {
        case suspend
        case resume
    }

    private(set) var state = State.running

    func submit() -> SubmitAction {
        switch state {
        case .running: .enqueue
        case .flushing, .stoppingPollThread, .shutDown: .reject
        case .released: preconditionFailure("a released producer was used")
        }
    }

    mutating func shutdown() -> ShutdownAction {
        switch state {
        case .running:
            state = .flushing(waiters: [])
            return .flush
        case .flushing, .stoppingPollThread: return .waitForShutdown
        case .shutDown: return .none
        case .released: preconditionFailure("a released producer was shut down")
        }
    }

    mutating func waitForShutdown(_ waiter: CheckedContinuation<Void, Never>) -> WaitAction {
        switch state {
        case .running, .released:
            preconditionFailure("waiting for a shutdown that has not started")
        case .flushing(var waiters):
            waiters.append(waiter)
            state = .flushing(waiters: waiters)
            return .suspend
        case .stoppingPollThread(var waiters, let thread):
            waiters.append(waiter)
            state = .stoppingPollThread(waiters: waiters, thread: thread)
            return .suspend
        case .shutDown:
            return .resume
        }
    }

    /// The flushing caller is done flushing (or gave up).
    mutating func flushed() -> StopAction {
        guard case .flushing(let waiters) = state else {
            preconditionFailure("a flush finished that was not in progress")
        }
        state = .stoppingPollThread(waiters: waiters, thread: .stopping)
        return .stopPollThread
    }

    /// The flushing caller waits for the poll thread to exit.
    mutating func waitForPollThread(_ waiter: CheckedContinuation<Void, Never>) -> WaitAction {
        guard case .stoppingPollThread(let waiters, let thread) = state else {
            preconditionFailure("waiting for a poll thread that was not told to stop")
        }
        switch thread {
        case .stopping:
            state = .stoppingPollThread(waiters: waiters, thread: .awaited(waiter))
            return .suspend
        case .exited:
            return .resume
        case .awaited:
            preconditionFailure("a second caller waits for the poll thread")
        }
    }

    /// The poll thread's last event.
    /// - Returns: the flushing caller, when it is waiting.
    mutating func pollThreadExited() -> CheckedContinuation<Void, Never>? {
        switch state {
        case .running, .flushing:
            preconditionFailure("a poll thread exited that was not told to stop")
        case .stoppingPollThread(let waiters, .awaited(let waiter)):
            state = .stoppingPollThread(waiters: waiters, thread: .exited)
            return waiter
        case .stoppingPollThread(let waiters, _):
            state = .stoppingPollThread(waiters: waiters, thread: .exited)
            return nil
        case .shutDown, .released:
            // After the shutdown stopped waiting for it, or without an owner.
            return nil
        }
    }

    /// The flushing caller stops waiting for the poll thread (it is stuck in librdkafka).
    /// - Returns: the waiter to resume, unless the thread's exit resumed it already.
    mutating func pollThreadWaitTimedOut() -> CheckedContinuation<Void, Never>? {
        guard case .stoppingPollThread(let waiters, .awaited(let waiter)) = state else { return nil }
        state = .stoppingPollThread(waiters: waiters, thread: .stopping)
        return waiter
    }

    /// - Returns: the shutdown callers to resume.
    mutating func shutdownFinished() -> [CheckedContinuation<Void, Never>] {
        guard case .stoppingPollThread(let waiters, _) = state else {
            preconditionFailure("a shutdown finished that was not in progress")
        }
        state = .shutDown
        return waiters
    }

    /// The producer's `deinit`. A shutdown in progress holds the producer, so it cannot be one.
    mutating func released() -> StopAction {
        switch state {
        case .running:
            state = .released
            return .stopPollThread
        case .shutDown:
            return .none
        case .flushing, .stoppingPollThread, .released:
            preconditionFailure("a producer was released while shutting down")
        }
    }
}
