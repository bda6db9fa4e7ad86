import CSystemd
import Foundation
import Logging

/// Talks to systemd through libsystemd's `sd_notify`: `READY=1`, `STATUS=…`, `RELOADING=1`,
/// `STOPPING=1` and watchdog pings. Every call is a no-op when `NOTIFY_SOCKET` is unset.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// True when systemd (or a test) listens on `NOTIFY_SOCKET`.
    public var isEnabled: Bool { ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] != nil }

    public func notify(_ state: String) {
        guard isEnabled else { return }
        _ = sd_notify(0, state)
    }

    public func ready(status: String) { notify("READY=1\nSTATUS=\(status)") }
    public func status(_ text: String) { notify("STATUS=\(text)") }
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

    public func watchdogPing() { notify("WATCHDOG=1") }
}
