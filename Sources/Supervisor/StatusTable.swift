import Foundation

/// The human form of `orderd status`.
public enum StatusTable {
    /// One aligned row per service in start order, then each non-ready service's note, then
    /// orderd's pid, uptime, summary, broker and configuration file. No trailing newline.
    public static func render(_ status: DaemonStatus) -> String {
        let header = ["NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST-EXIT", "READY", "NEXT-RESTART"]
        let rows = status.services.map { service in
            [
                service.name,
                service.state.rawValue,
                service.pid.map(String.init) ?? "-",
                service.uptimeSeconds.map(duration) ?? "-",
                String(service.restarts),
                service.lastExit ?? "-",
                service.ready ? "yes" : "no",
                service.nextRestartSeconds.map { "in " + duration($0) } ?? "-",
            ]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        let lines = ([header] + rows).map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(
                separator: "  "
            )
            .trimmingCharacters(in: .whitespaces)
        }
        var text = lines.joined(separator: "\n")
        for service in status.services where service.note != nil && service.state != .ready {
            text += "\n  \(service.name): \(service.note!)"
        }
        let broker = status.embeddedBroker ? "\(status.broker) (embedded, in-memory, development only)" : status.broker
        text += "\n\norderd pid \(status.pid), up \(duration(status.uptimeSeconds)), \(status.summary)"
        text += "\nbroker \(broker)\nconfig \(status.config)"
        return text
    }

    /// 3d 4h, 5m 12s, 0.4s…
    static func duration(_ seconds: Double) -> String {
        if seconds < 10 { return String(format: "%.1fs", seconds) }
        let total = Int(seconds)
        let (days, hours, minutes, secs) = (total / 86400, total % 86400 / 3600, total % 3600 / 60, total % 60)
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        if minutes > 0 { return "\(minutes)m \(secs)s" }
        return "\(secs)s"
    }
}
