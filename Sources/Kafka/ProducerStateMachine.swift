/// The lifecycle of a ``KafkaProducer`` and its poll thread: which calls are accepted, who
/// starts the poll thread, and who flushes and stops it. Guarded by the producer's `Mutex`;
/// every method returns what the caller must do next, and a transition that cannot happen traps.
///
/// Messages are enqueued while the lock is held in ``State/initialized`` or ``State/running``,
/// so once the state has left them nothing can enqueue any more: the poll thread's final purge
/// cannot miss a message (no purge loop racing late sends).
struct ProducerStateMachine: ~Copyable {
    typealias Waiter = CheckedContinuation<Void, Never>

    enum State {
        /// Created; ``KafkaProducer/run()`` has not started the poll thread. Accepting messages:
        /// librdkafka queues and sends them, but no delivery report is served yet.
        case initialized
        /// `run()` started the poll thread; accepting messages. `waiters` are `run()` waiting for
        /// the shutdown to finish.
        case running(waiters: [Waiter])
        /// ``KafkaProducer/shutdown(timeout:)`` is flushing; messages are refused. Later shutdown
        /// callers wait here to be resumed. `pollThreadStarted`: whether `run()` started it.
        case flushing(waiters: [Waiter], pollThreadStarted: Bool)
        /// Flushed: the poll thread was told to stop (or started already stopped, when `run()`
        /// never started it), fails what is left and exits.
        case stoppingPollThread(waiters: [Waiter], thread: PollThreadExit)
        /// Every message has its result; the poll thread has exited, or is about to (it did
        /// not within the shutdown's wait).
        case shutDown
        /// The producer was released before `run()` and without a shutdown; a poll thread was
        /// started already stopped, to fail what is left.
        case released
    }

    /// The flushing caller's wait for the poll thread.
    enum PollThreadExit {
        case stopping
        case awaited(Waiter)
        case exited
    }

    enum RunAction: Equatable {
        /// Start the poll thread, then wait for the shutdown with ``waitForShutdown(_:)``.
        case startPollThread
        /// Shut down (or shutting down) before `run()`: nothing to poll; wait for the shutdown.
        case waitForShutdown
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
        /// ``ClientLifecycle/stopPollThread()``: the running loop ends and does its final phase.
        case stopPollThread
        /// `run()` never started the poll thread: start it already stopped, so that it does
        /// only its final phase (fail what is left, serve those reports) and exits.
        case startStoppedPollThread
        case none
    }

    enum WaitAction {
        case suspend
        case resume
    }

    private(set) var state = State.initialized

    /// ``KafkaProducer/run()``: the poll loop runs once.
    mutating func run() -> RunAction {
        switch state {
        case .initialized:
            state = .running(waiters: [])
            return .startPollThread
        case .running:
            preconditionFailure("KafkaProducer.run() was called while it runs: a producer's poll loop runs once")
        case .flushing, .stoppingPollThread, .shutDown:
            return .waitForShutdown
        case .released:
            preconditionFailure("a released producer was run")
        }
    }

    func submit() -> SubmitAction {
        switch state {
        case .initialized, .running: .enqueue
        case .flushing, .stoppingPollThread, .shutDown: .reject
        case .released: preconditionFailure("a released producer was used")
        }
    }

    mutating func shutdown() -> ShutdownAction {
        switch state {
        case .initialized:
            state = .flushing(waiters: [], pollThreadStarted: false)
            return .flush
        case .running(let waiters):
            state = .flushing(waiters: waiters, pollThreadStarted: true)
            return .flush
        case .flushing, .stoppingPollThread: return .waitForShutdown
        case .shutDown: return .none
        case .released: preconditionFailure("a released producer was shut down")
        }
    }

    /// A shutdown caller or `run()` waits until the shutdown has finished.
    mutating func waitForShutdown(_ waiter: Waiter) -> WaitAction {
        switch state {
        case .initialized, .released:
            preconditionFailure("waiting for a shutdown of a producer that neither runs nor shuts down")
        case .running(var waiters):
            waiters.append(waiter)
            state = .running(waiters: waiters)
            return .suspend
        case .flushing(var waiters, let started):
            waiters.append(waiter)
            state = .flushing(waiters: waiters, pollThreadStarted: started)
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
        guard case .flushing(let waiters, let started) = state else {
            preconditionFailure("a flush finished that was not in progress")
        }
        state = .stoppingPollThread(waiters: waiters, thread: .stopping)
        return started ? .stopPollThread : .startStoppedPollThread
    }

    /// The flushing caller waits for the poll thread to exit.
    mutating func waitForPollThread(_ waiter: Waiter) -> WaitAction {
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
    mutating func pollThreadExited() -> Waiter? {
        switch state {
        case .initialized, .running, .flushing:
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
    mutating func pollThreadWaitTimedOut() -> Waiter? {
        guard case .stoppingPollThread(let waiters, .awaited(let waiter)) = state else { return nil }
        state = .stoppingPollThread(waiters: waiters, thread: .stopping)
        return waiter
    }

    /// - Returns: the shutdown callers and `run()` to resume.
    mutating func shutdownFinished() -> [Waiter] {
        guard case .stoppingPollThread(let waiters, _) = state else {
            preconditionFailure("a shutdown finished that was not in progress")
        }
        state = .shutDown
        return waiters
    }

    /// The producer's `deinit`. `run()` and a shutdown in progress hold the producer (`run()`
    /// returns only once it is shut down), so it cannot be either.
    mutating func released() -> StopAction {
        switch state {
        case .initialized:
            state = .released
            return .startStoppedPollThread
        case .shutDown:
            return .none
        case .running, .flushing, .stoppingPollThread, .released:
            preconditionFailure("a producer was released while running or shutting down")
        }
    }
}
