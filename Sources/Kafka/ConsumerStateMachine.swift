/// The lifecycle of a ``KafkaConsumer`` and its poll thread: who subscribes and starts the
/// thread, who stops it, and who waits for it to commit, leave the group and close. Guarded by
/// the consumer's `Mutex`; every method returns what the caller must do next, and a transition
/// that cannot happen traps.
///
/// Every waiter is resumed exactly once: when the thread has closed the client, or when its own
/// timeout passes first (the thread may be blocked in librdkafka, closing against a dead broker).
/// `run()` ends with the first of them: the close, or the first shutdown that gave up on it.
struct ConsumerStateMachine: ~Copyable {
    typealias CloseWaiter = CheckedContinuation<Bool, Never>
    typealias RunWaiter = CheckedContinuation<Void, Never>

    enum State {
        /// Created; ``KafkaConsumer/run()`` has not subscribed nor started the poll thread:
        /// nothing is fetched and the group does not know this member.
        case initialized
        /// `run()` subscribed and the poll thread is fetching messages.
        case running(run: RunEnd)
        /// The poll thread was told to stop (or started already stopped, when `run()` never
        /// started it) and is committing and closing; `waiters` are the shutdown callers
        /// waiting for it, by id.
        case closing(waiters: [Int: CloseWaiter], run: RunEnd)
        /// The poll thread has closed the client and exited.
        case closed
    }

    /// Where `run()` is in waiting for its end.
    enum RunEnd {
        case notWaiting
        case waiting(RunWaiter)
        /// A shutdown gave up waiting for the close: `run()` ends without it.
        case ended
    }

    enum RunAction: Equatable {
        /// Subscribe and start the poll thread, then wait with ``waitForRunEnd(_:)``.
        case subscribeAndStartPollThread
        /// Closed (or closing) before `run()`: nothing to poll; wait with ``waitForRunEnd(_:)``.
        case waitForRunEnd
    }

    enum StopAction: Equatable {
        /// Finish the delivery of messages and stop the poll thread (``ClientLifecycle/stopPollThread()``).
        case stopPollThread
        /// `run()` never started the poll thread: finish the delivery of messages and start the
        /// thread already stopped, so that it only closes the client and exits.
        case startStoppedPollThread
        case none
    }

    enum WaitAction: Equatable {
        case suspend
        /// The wait is over already: resume the caller at once.
        case resume
    }

    enum CloseWaitAction: Equatable {
        case suspend
        /// Closed already: resume the caller at once with true.
        case closed
        /// An earlier wait for this close timed out: resume the caller at once with false.
        case gaveUp
    }

    /// What a shutdown's wait that timed out resumes.
    struct TimedOut {
        /// The shutdown caller, with false; nil when the close resumed it already.
        var waiter: CloseWaiter?
        /// `run()`, which ends with the first shutdown that gives up.
        var run: RunWaiter?
    }

    private(set) var state = State.initialized
    private var lastWaiterID = 0

    /// ``KafkaConsumer/run()``: the poll loop runs once.
    mutating func run() -> RunAction {
        switch state {
        case .initialized:
            state = .running(run: .notWaiting)
            return .subscribeAndStartPollThread
        case .running:
            preconditionFailure("KafkaConsumer.run() was called while it runs: a consumer's poll loop runs once")
        case .closing, .closed:
            return .waitForRunEnd
        }
    }

    /// A caller asks for the close (``KafkaConsumer/shutdown(timeout:)``, a failed subscribe,
    /// or the consumer's `deinit`); only the first one stops the thread.
    mutating func shutdown() -> StopAction {
        switch state {
        case .initialized:
            state = .closing(waiters: [:], run: .notWaiting)
            return .startStoppedPollThread
        case .running(let run):
            state = .closing(waiters: [:], run: run)
            return .stopPollThread
        case .closing, .closed:
            return .none
        }
    }

    /// `run()` waits until the close, or the first shutdown that gives up on it.
    mutating func waitForRunEnd(_ waiter: RunWaiter) -> WaitAction {
        switch state {
        case .initialized:
            preconditionFailure("run() waits for an end before it started")
        case .running(.notWaiting):
            state = .running(run: .waiting(waiter))
            return .suspend
        case .closing(let waiters, .notWaiting):
            state = .closing(waiters: waiters, run: .waiting(waiter))
            return .suspend
        case .closing(_, .ended), .closed:
            return .resume
        case .running(.waiting), .closing(_, .waiting), .running(.ended):
            preconditionFailure("a second run() waits for the consumer's end")
        }
    }

    /// An id for ``waitForClose(id:_:)`` and ``closeWaitTimedOut(id:)``.
    mutating func nextWaiterID() -> Int {
        lastWaiterID += 1
        return lastWaiterID
    }

    mutating func waitForClose(id: Int, _ waiter: CloseWaiter) -> CloseWaitAction {
        switch state {
        case .initialized, .running:
            preconditionFailure("waiting for a close that has not started")
        case .closing(_, .ended):
            // A shutdown already waited out its timeout: the close is stuck, and waiting again
            // would only spend another caller's budget on it.
            return .gaveUp
        case .closing(var waiters, let run):
            waiters[id] = waiter
            state = .closing(waiters: waiters, run: run)
            return .suspend
        case .closed:
            return .closed
        }
    }

    /// A shutdown gave up waiting for the close, which has not finished since.
    var closeGaveUp: Bool {
        if case .closing(_, .ended) = state { true } else { false }
    }

    /// A shutdown's wait for the close timed out: that caller, and `run()`, stop waiting.
    mutating func closeWaitTimedOut(id: Int) -> TimedOut {
        guard case .closing(var waiters, let run) = state else { return TimedOut() }
        let waiter = waiters.removeValue(forKey: id)
        state = .closing(waiters: waiters, run: .ended)
        guard case .waiting(let runWaiter) = run else { return TimedOut(waiter: waiter) }
        return TimedOut(waiter: waiter, run: runWaiter)
    }

    /// The poll thread's last event.
    /// - Returns: the shutdown callers to resume with true, and `run()` when it waits.
    mutating func pollThreadExited() -> (waiters: [CloseWaiter], run: RunWaiter?) {
        switch state {
        case .initialized, .running, .closed:
            preconditionFailure("a poll thread exited that was not told to stop")
        case .closing(let waiters, let run):
            state = .closed
            guard case .waiting(let runWaiter) = run else { return (Array(waiters.values), nil) }
            return (Array(waiters.values), runWaiter)
        }
    }
}

extension ClientLifecycle where Machine == ConsumerStateMachine {
    /// A shutdown's wait: until the poll thread has closed the client (true), or `timeout`
    /// passed (false; `run()` then ends too).
    func waitForClose(timeout: Duration) async -> Bool {
        let id = machine.withLock { $0.nextWaiterID() }
        return await wait(
            timeout: timeout,
            timeoutValue: false,
            register: { machine, waiter in
                switch machine.waitForClose(id: id, waiter) {
                case .suspend: nil
                case .closed: true
                case .gaveUp: false
                }
            },
            takeBack: { machine in
                let timedOut = machine.closeWaitTimedOut(id: id)
                // Resuming only schedules run()'s task; nothing runs under the lock.
                timedOut.run?.resume()
                return timedOut.waiter
            }
        )
    }

    /// `run()`'s wait: until the close, or the first shutdown that gave up on it.
    func waitForRunEnd() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            switch machine.withLock({ $0.waitForRunEnd(continuation) }) {
            case .suspend: break
            case .resume: continuation.resume()
            }
        }
    }
}

extension ConsumerStateMachine {
    /// Back-pressure without leaving the group: when the application falls behind, the consumer
    /// pauses its assigned partitions in librdkafka and keeps polling (so it stays within
    /// `max.poll.interval.ms` and serves rebalances), and resumes them once the application has
    /// drained its buffer to the low-water mark.
    ///
    /// Pure: it decides from the buffered count and the rebalance events it is told about, and
    /// returns the pause or resume the poll thread performs. It lives in the consumer's
    /// ``MessageBuffer``, under that buffer's one lock, so that buffering a message and deciding
    /// about it cost one lock. Every action is performed on the poll thread, in the order decided,
    /// so librdkafka's pause state is always the one this machine holds.
    ///
    /// Invariants: the paused partitions are a subset of the assignment (a revoked partition is
    /// forgotten, so nothing stale is resumed); while paused, every partition assigned is paused
    /// at once (librdkafka resets a partition's pause state when it is assigned again).
    struct FlowControl: Sendable {
        enum State: Equatable, Sendable {
            /// Fetching: librdkafka pauses none of the assignment.
            case flowing
            /// The buffer reached its capacity: these partitions (assigned, all of them) are
            /// paused in librdkafka until the buffer drains to the low-water mark.
            case paused(Set<TopicPartition>)
        }

        /// Every pause and resume of the whole machine is returned, even with no partition to
        /// act on (an empty assignment), so the poll thread always knows whether it is paused.
        enum Action: Equatable, Sendable {
            case none
            /// Pause these partitions (`rd_kafka_pause_partitions`); from ``buffered(_:)`` the
            /// machine is paused from now on.
            case pause(Set<TopicPartition>)
            /// Resume these partitions (`rd_kafka_resume_partitions`): the machine flows again.
            case resume(Set<TopicPartition>)
        }

        /// Buffered messages at which the assignment is paused. A soft cap: messages fetched
        /// before the pause still arrive from poll and are buffered, never dropped.
        let capacity: Int
        /// Buffered messages at or below which paused partitions are resumed.
        let lowWater: Int
        private(set) var state = State.flowing
        /// The partitions librdkafka assigned to this member, as the rebalances told.
        private(set) var assignment: Set<TopicPartition> = []

        /// Pauses at `capacity`, resumes at half of it (at most `capacity - 1`).
        init(capacity: Int) {
            precondition(capacity > 0, "a consumer buffers at least one message")
            self.capacity = capacity
            self.lowWater = max(0, min(capacity / 2, capacity - 1))
        }

        /// A message was buffered; `count` are buffered now.
        mutating func buffered(_ count: Int) -> Action {
            guard case .flowing = state, count >= capacity else { return .none }
            state = .paused(assignment)
            return .pause(assignment)
        }

        /// The application took messages (or a revocation dropped some); `count` are left.
        mutating func drained(to count: Int) -> Action {
            guard case .paused(let partitions) = state, count <= lowWater else { return .none }
            state = .flowing
            return .resume(partitions)
        }

        /// librdkafka assigned `partitions` (all of them, or an incremental part); while paused
        /// they are paused as well, even those that were paused before they were revoked.
        mutating func assigned(_ partitions: Set<TopicPartition>) -> Action {
            assignment.formUnion(partitions)
            guard case .paused(let paused) = state, !partitions.isEmpty else { return .none }
            state = .paused(paused.union(partitions))
            return .pause(partitions)
        }

        /// `partitions` are revoked (or lost): they are no longer this member's to resume.
        mutating func revoked(_ partitions: Set<TopicPartition>) {
            assignment.subtract(partitions)
            if case .paused(let paused) = state { state = .paused(paused.subtracting(partitions)) }
        }

        var isPaused: Bool {
            if case .paused = state { true } else { false }
        }
    }
}
