/// The lifecycle state of one supervised service, as `orderd status` shows it.
public enum ServiceState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Spawned, within its startup budget, not ready yet.
    case starting
    /// Running and its last readiness probe passed.
    case ready
    /// Running but not ready (readiness failing); liveness failures past the threshold restart it.
    case unhealthy
    /// Exited; waiting to be restarted.
    case backoff
    /// Asked to stop; waiting for the process group to exit.
    case stopping
    /// Not running and not going to run until started (initial state, or stopped by hand or by policy).
    case stopped
    /// Restarted too often (start limit); no more restarts until `start` or `reset-failed`.
    case failed
}

/// When a service that exited is started again.
public enum RestartPolicy: String, Sendable, Hashable, Codable, CaseIterable {
    /// After every exit, clean or not.
    case always
    /// After an unclean exit (non-zero status or a signal) only.
    case onFailure = "on-failure"
    /// Never: the service ends `stopped` (clean exit) or `failed`.
    case never
}

/// How a process ended; its description reads like systemd's (`exit 1`, `signal 9 (KILL)`).
public enum ExitStatus: Sendable, Hashable, CustomStringConvertible {
    /// The process exited with this status code.
    case exited(Int32)
    /// A signal ended the process.
    case signalled(Int32)

    /// True for exit status 0 only.
    public var isSuccess: Bool { self == .exited(0) }

    /// `exit <code>`, or `signal <n> (<NAME>)` for the common signals.
    public var description: String {
        switch self {
        case .exited(let code): "exit \(code)"
        case .signalled(let signal): "signal \(signal)\(Self.signalNames[signal].map { " (\($0))" } ?? "")"
        }
    }

    static let signalNames: [Int32: String] = [
        1: "HUP", 2: "INT", 3: "QUIT", 6: "ABRT", 9: "KILL", 11: "SEGV", 13: "PIPE", 15: "TERM",
    ]
}

/// Why a service was restarted (the `reason` label of `orderd_service_restarts_total`).
public enum RestartReason: String, Sendable, Hashable, Codable, CaseIterable {
    /// The process exited (crash or clean exit under `always`).
    case exit
    /// Liveness probes failed past the threshold.
    case liveness
    /// It did not become ready within its startup budget.
    case startup
    /// An operator asked for it (`orderd restart`, or a changed config on reload).
    case manual
}
