/// The restart, backoff and start-limit settings of one service.
public struct SupervisionPolicy: Sendable, Hashable {
    public var restart: RestartPolicy
    /// First restart delay; doubles (with jitter) per consecutive restart.
    public var backoffInitial: Duration
    public var backoffMaximum: Duration
    /// The backoff starts from `backoffInitial` again once the service has been ready this long.
    public var backoffResetAfter: Duration
    /// More than `startLimitBurst` starts within `startLimitInterval` marks the service failed.
    public var startLimitBurst: Int
    public var startLimitInterval: Duration
    public var stopTimeout: Duration
    public var startupBudget: Duration
    public var livenessFailureThreshold: Int
    public var readinessFailureThreshold: Int

    public init(
        restart: RestartPolicy = .onFailure,
        backoffInitial: Duration = .milliseconds(100),
        backoffMaximum: Duration = .seconds(30),
        backoffResetAfter: Duration = .seconds(60),
        startLimitBurst: Int = 5,
        startLimitInterval: Duration = .seconds(60),
        stopTimeout: Duration = .seconds(10),
        startupBudget: Duration = .seconds(30),
        livenessFailureThreshold: Int = 3,
        readinessFailureThreshold: Int = 1
    ) {
        self.restart = restart
        self.backoffInitial = backoffInitial
        self.backoffMaximum = backoffMaximum
        self.backoffResetAfter = backoffResetAfter
        self.startLimitBurst = startLimitBurst
        self.startLimitInterval = startLimitInterval
        self.stopTimeout = stopTimeout
        self.startupBudget = startupBudget
        self.livenessFailureThreshold = livenessFailureThreshold
        self.readinessFailureThreshold = readinessFailureThreshold
    }

    /// The delay before restart number `attempt` (0-based): `initial × 2^attempt` capped at
    /// `backoffMaximum`, scaled by `jitter` (0.5…1.0) so crash-looping services spread out.
    public func backoff(attempt: Int, jitter: Double) -> Duration {
        let step = backoffInitial * (1 << min(attempt, 30))
        return min(step, backoffMaximum) * min(max(jitter, 0.5), 1.0)
    }
}
