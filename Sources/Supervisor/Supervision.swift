/// The supervision of one service as a pure state machine: given an event and the time, it
/// returns the new state and the actions to carry out. No I/O, no clock of its own, so every
/// decision (restart or not, how long to back off, when the start limit trips) is tested
/// exhaustively with an injected clock.
public struct Supervision: Sendable {
    /// Time as the state machine sees it: injected with every event, never read from a clock.
    public typealias Instant = ContinuousClock.Instant

    /// What happened to the service: operator commands, process and probe outcomes, timers.
    public enum Event: Sendable, Hashable {
        /// An operator (or orderd's start-up) asks for the service to run.
        case start
        /// An operator asks for it to stop; sticky: no restart until `start`.
        case stop
        /// orderd itself is shutting down: a stop, reported as such.
        case shutdown
        /// An operator asks for a restart (or a reload changed its configuration).
        case restart
        /// Clear `failed` and the start-limit history, and start again.
        case resetFailed
        /// The process was spawned with this pid.
        case spawned(pid: Int32)
        /// `posix_spawn` failed (the reason); handled like an exit: back off and retry.
        case spawnFailed(String)
        /// `/ready` answered 2xx.
        case readinessPassed
        /// `/ready` failed or did not answer in time.
        case readinessFailed
        /// `/health` answered 2xx.
        case livenessPassed
        /// `/health` failed or did not answer in time.
        case livenessFailed
        /// The startup budget passed without the service ever becoming ready.
        case startupBudgetExceeded
        /// The process exited (reaped by pid).
        case exited(ExitStatus)
        /// The backoff delay scheduled by ``Action/scheduleRestart(after:)`` elapsed.
        case backoffElapsed
        /// The stop timeout scheduled by ``Action/scheduleKill(after:)`` elapsed.
        case stopTimeoutElapsed
    }

    /// What the caller must do, in the order returned.
    public enum Action: Sendable, Hashable {
        /// Spawn the process; report ``Event/spawned(pid:)`` or ``Event/spawnFailed(_:)``.
        case spawn
        /// SIGTERM to the process group.
        case terminate
        /// SIGKILL to the process group.
        case kill
        /// Report ``Event/backoffElapsed`` after this delay (replacing any pending timer).
        case scheduleRestart(after: Duration)
        /// Report ``Event/stopTimeoutElapsed`` after this delay (replacing any pending timer).
        case scheduleKill(after: Duration)
        /// The restart counter moved (for the metric), with its reason.
        case countRestart(RestartReason)
    }

    /// Restart, backoff, start-limit, stop and probe settings; fixed for this machine's life.
    public let policy: SupervisionPolicy
    /// The current state; starts `stopped`.
    public private(set) var state: ServiceState = .stopped
    /// The running process, from ``Event/spawned(pid:)`` until its exit.
    public private(set) var pid: Int32?
    /// When the current process was spawned.
    public private(set) var startedAt: Instant?
    /// When the current process last became ready (nil while not ready).
    public private(set) var readySince: Instant?
    /// Restarts so far (every reason), as `orderd status` shows them.
    public private(set) var restarts = 0
    /// The last exit, if any.
    public private(set) var lastExit: ExitStatus?
    /// When a scheduled restart is due, while in `backoff`.
    public private(set) var nextRestart: Instant?
    /// Why the service is failed or stopped by policy, for `orderd status`.
    public private(set) var note: String?

    /// Start times within the start-limit window.
    private var starts: [Instant] = []
    private var backoffAttempt = 0
    private var consecutiveLivenessFailures = 0
    private var consecutiveReadinessFailures = 0
    /// Set while stopping on purpose: the exit that follows is not a crash.
    private var stopIntent: StopIntent?
    /// Whether the current process answered /health during its startup.
    private var aliveDuringStartup = false

    private enum StopIntent: Sendable {
        case stop
        case restart(RestartReason)
    }

    /// A stopped service under `policy`; nothing happens until ``Event/start``.
    public init(policy: SupervisionPolicy) {
        self.policy = policy
    }

    /// Applies `event` at `now`. `jitter` (0.5…1.0) scales a backoff delay.
    public mutating func handle(_ event: Event, now: Instant, jitter: Double = 1.0) -> [Action] {
        if event == .shutdown {
            let actions = handle(.stop, now: now, jitter: jitter)
            if state == .stopping || state == .stopped { note = "orderd is shutting down" }
            return actions
        }
        switch (state, event) {
        case (.stopped, .start), (.failed, .start), (.backoff, .start):
            starts.removeAll()
            backoffAttempt = 0
            return begin(now: now)
        case (.failed, .resetFailed):
            starts.removeAll()
            backoffAttempt = 0
            return begin(now: now)
        case (.stopping, .start):
            // Stop first, then start again, as asked.
            stopIntent = .restart(.manual)
            return []
        case (_, .resetFailed), (_, .start):
            return []

        case (.starting, .spawned(let pid)):
            self.pid = pid
            return []
        case (.starting, .spawnFailed(let reason)):
            note = "spawn failed: \(reason)"
            return afterExit(.exited(127), reason: .exit, now: now, jitter: jitter)

        case (.starting, .readinessPassed), (.unhealthy, .readinessPassed):
            state = .ready
            consecutiveReadinessFailures = 0
            if readySince == nil { readySince = now }
            note = nil
            return []
        case (.ready, .readinessFailed), (.unhealthy, .readinessFailed):
            consecutiveReadinessFailures += 1
            if consecutiveReadinessFailures >= policy.readinessFailureThreshold {
                state = .unhealthy
                readySince = nil
            }
            return []
        case (.starting, .readinessFailed):
            return []
        case (.starting, .livenessPassed):
            consecutiveLivenessFailures = 0
            aliveDuringStartup = true
            return []
        case (.ready, .livenessPassed), (.unhealthy, .livenessPassed):
            consecutiveLivenessFailures = 0
            return []
        case (.ready, .livenessFailed), (.unhealthy, .livenessFailed):
            consecutiveLivenessFailures += 1
            guard consecutiveLivenessFailures >= policy.livenessFailureThreshold else { return [] }
            note = "liveness failed \(consecutiveLivenessFailures) times in a row"
            return replace(reason: .liveness)
        case (.starting, .livenessFailed):
            return []
        case (.starting, .startupBudgetExceeded):
            if aliveDuringStartup {
                // It runs and answers /health but is not ready (say Kafka is down): a restart
                // would not help, so it stays up as unhealthy and readiness decides from here.
                state = .unhealthy
                note = "alive but not ready within its startup budget of \(policy.startupBudget)"
                return []
            }
            note = "did not answer /health within its startup budget of \(policy.startupBudget)"
            return replace(reason: .startup)

        case (.starting, .stop), (.ready, .stop), (.unhealthy, .stop):
            stopIntent = .stop
            state = .stopping
            note = "stopped by operator"
            return [.terminate, .scheduleKill(after: policy.stopTimeout)]
        case (.stopping, .stop):
            stopIntent = .stop
            return []
        case (.backoff, .stop), (.failed, .stop):
            state = .stopped
            nextRestart = nil
            note = "stopped by operator"
            return []
        case (.stopped, .stop):
            return []

        case (.starting, .restart), (.ready, .restart), (.unhealthy, .restart):
            return replace(reason: .manual)
        case (.backoff, .restart), (.stopped, .restart), (.failed, .restart):
            starts.removeAll()
            backoffAttempt = 0
            restarts += 1
            return [.countRestart(.manual)] + begin(now: now)
        case (.stopping, .restart):
            stopIntent = .restart(.manual)
            return []

        case (.stopping, .spawnFailed(let reason)):
            note = "spawn failed: \(reason)"
            return handle(.exited(.exited(127)), now: now, jitter: jitter)
        case (.stopping, .stopTimeoutElapsed):
            return [.kill]
        case (_, .stopTimeoutElapsed):
            return []

        case (.backoff, .backoffElapsed):
            return begin(now: now)
        case (_, .backoffElapsed):
            return []

        case (.starting, .exited(let status)), (.ready, .exited(let status)), (.unhealthy, .exited(let status)):
            note = nil
            return afterExit(status, reason: .exit, now: now, jitter: jitter)
        case (.stopping, .exited(let status)):
            switch stopIntent {
            case .stop, nil:
                lastExit = status
                clearProcess()
                state = .stopped
                stopIntent = nil
                return []
            case .restart(let reason):
                lastExit = status
                clearProcess()
                stopIntent = nil
                if reason == .manual {
                    // An operator's restart is immediate and does not count toward the start limit.
                    restarts += 1
                    starts.removeAll()
                    backoffAttempt = 0
                    return [.countRestart(reason)] + begin(now: now)
                }
                return scheduleRestart(reason: reason, now: now, jitter: jitter)
            }
        case (_, .exited):
            return []

        case (_, .shutdown), (_, .spawned), (_, .spawnFailed), (_, .readinessPassed), (_, .readinessFailed),
            (_, .livenessPassed), (_, .livenessFailed), (_, .startupBudgetExceeded), (_, .restart):
            return []
        }
    }

    /// Starts the process now, unless the start limit says it started too often.
    private mutating func begin(now: Instant) -> [Action] {
        starts = starts.filter { now - $0 < policy.startLimitInterval }
        guard starts.count < policy.startLimitBurst else {
            state = .failed
            nextRestart = nil
            note = "start limit hit: \(starts.count) starts within \(policy.startLimitInterval)"
            return []
        }
        starts.append(now)
        note = nil
        aliveDuringStartup = false
        state = .starting
        startedAt = now
        readySince = nil
        nextRestart = nil
        consecutiveLivenessFailures = 0
        consecutiveReadinessFailures = 0
        return [.spawn]
    }

    /// Stops the running process so that it is started again for `reason`.
    private mutating func replace(reason: RestartReason) -> [Action] {
        stopIntent = .restart(reason)
        state = .stopping
        return [.terminate, .scheduleKill(after: policy.stopTimeout)]
    }

    private mutating func afterExit(
        _ status: ExitStatus,
        reason: RestartReason,
        now: Instant,
        jitter: Double
    ) -> [Action] {
        lastExit = status
        let wasReadyLongEnough = readySince.map { now - $0 >= policy.backoffResetAfter } ?? false
        clearProcess()
        if wasReadyLongEnough { backoffAttempt = 0 }
        let restart: Bool =
            switch policy.restart {
            case .always: true
            case .onFailure: !status.isSuccess
            case .never: false
            }
        guard restart else {
            state = status.isSuccess ? .stopped : .failed
            note =
                status.isSuccess
                ? "exited cleanly; restart policy \(policy.restart.rawValue)" : "\(status); restart policy never"
            return []
        }
        return scheduleRestart(reason: reason, now: now, jitter: jitter)
    }

    /// Counts a restart and schedules it after the backoff, unless the next start would trip
    /// the start limit: then the service is failed at once instead of waiting for nothing.
    private mutating func scheduleRestart(reason: RestartReason, now: Instant, jitter: Double) -> [Action] {
        let recent = starts.filter { now - $0 < policy.startLimitInterval }
        guard recent.count < policy.startLimitBurst else {
            starts = recent
            state = .failed
            nextRestart = nil
            note = "start limit hit: \(recent.count) starts within \(policy.startLimitInterval)"
            return []
        }
        restarts += 1
        let delay = policy.backoff.delay(attempt: backoffAttempt, jitter: jitter)
        backoffAttempt += 1
        state = .backoff
        nextRestart = now + delay
        return [.countRestart(reason), .scheduleRestart(after: delay)]
    }

    private mutating func clearProcess() {
        pid = nil
        startedAt = nil
        readySince = nil
    }
}
