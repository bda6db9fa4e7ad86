import ServiceKit

/// How one service is supervised: restarts, backoff, start limit, stop and probes. The defaults
/// below are orderd's built-in defaults; `[defaults]` and then `[services.<name>]` override them
/// key by key (see ``SupervisorConfiguration``).
public struct SupervisionPolicy: Sendable, Hashable {
    /// `restart`: when an exited service is started again. Default `on-failure`.
    public var restart: RestartPolicy = .onFailure
    /// `backoff_initial`: the first restart delay; it doubles (with jitter) per consecutive restart. Default 100 ms.
    public var backoffInitial: Duration = .milliseconds(100)
    /// `backoff_max`: the cap of the restart delay. Default 30 s.
    public var backoffMaximum: Duration = .seconds(30)
    /// `backoff_reset_after`: the delay starts from `backoffInitial` again once the service has
    /// been ready this long. Default 60 s.
    public var backoffResetAfter: Duration = .seconds(60)
    /// `start_limit_burst`: more starts than this within `startLimitInterval` mark the service failed. Default 5.
    public var startLimitBurst = 5
    /// `start_limit_interval`: the window of the start limit. Default 60 s.
    public var startLimitInterval: Duration = .seconds(60)
    /// `stop_timeout`: time between SIGTERM and SIGKILL. Default 10 s.
    public var stopTimeout: Duration = .seconds(10)
    /// `probes.startup_budget`: how long a starting service has to become ready; liveness
    /// failures do not count before. Default 30 s.
    public var startupBudget: Duration = .seconds(30)
    /// `probes.interval`: time between two probes of `/health` and `/ready`. Default 2 s.
    public var probeInterval: Duration = .seconds(2)
    /// `probes.timeout`: the timeout of one probe request. Default 1 s.
    public var probeTimeout: Duration = .seconds(1)
    /// `probes.liveness_failure_threshold`: consecutive liveness failures that restart the service. Default 3.
    public var livenessFailureThreshold = 3
    /// `probes.readiness_failure_threshold`: consecutive readiness failures that mark it not
    /// ready (no restart). Default 1.
    public var readinessFailureThreshold = 1

    /// The restart delays: `backoffInitial` doubling up to `backoffMaximum`.
    public var backoff: Backoff { Backoff(initial: backoffInitial, maximum: backoffMaximum) }
}
