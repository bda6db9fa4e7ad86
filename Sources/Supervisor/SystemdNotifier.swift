import CSystemd
import Foundation
import Logging

/// Talks to systemd through libsystemd's `sd_notify`: `READY=1`, `STATUS=…`, `RELOADING=1`,
/// `STOPPING=1` and watchdog pings. Every call is a no-op when `NOTIFY_SOCKET` is unset.
public struct SystemdNotifier: Sendable {
    /// A notifier for the `NOTIFY_SOCKET` of this process's environment, read at each call.
    public init() {}

    /// True when systemd (or a test) listens on `NOTIFY_SOCKET`.
    public var isEnabled: Bool { ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] != nil }

    /// Sends `state` (newline-separated `KEY=value` assignments) as one datagram; failures are
    /// ignored, as systemd's protocol expects.
    public func notify(_ state: String) {
        guard isEnabled else { return }
        _ = sd_notify(0, state)
    }

    /// `READY=1` with a `STATUS=` line: start-up (or a reload) is complete.
    public func ready(status: String) { notify("READY=1\nSTATUS=\(status)") }
    /// `STATUS=`: the free-form line `systemctl status` shows.
    public func status(_ text: String) { notify("STATUS=\(text)") }
    /// `STOPPING=1`: graceful shutdown has begun.
    public func stopping() { notify("STOPPING=1\nSTATUS=stopping") }

    /// `RELOADING=1` with the monotonic timestamp systemd ≥ 253 expects.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let usec = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        notify("RELOADING=1\nMONOTONIC_USEC=\(usec)\nSTATUS=reloading")
    }

    /// The watchdog interval systemd expects pings within, when the watchdog is on for orderd.
    public var watchdogInterval: Duration? {
        var usec: UInt64 = 0
        guard isEnabled, sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }

    /// `WATCHDOG=1`: orderd is alive and making progress.
    public func watchdogPing() { notify("WATCHDOG=1") }
}
