import Foundation

/// The result of a run, printed as a table or (``jsonText()``) as one JSON object whose keys are
/// this struct's property names — a stable interface, documented in `--help`.
struct BenchReport: Codable, Sendable {
    struct Counts: Codable, Sendable, Hashable {
        var sent: Int
        var accepted: Int
        var completed: Int
        var cancelled: Int
        /// Not a 202: other statuses, connection errors, timeouts (details in `failures`).
        var failed: Int
        /// Accepted without a notification by the end of the drain.
        var lost: Int
        /// Distinct notification events (eventIds) beyond the first, summed over orders: a
        /// notification effect that happened twice. Fails the run.
        var duplicates: Int
        /// Repeat deliveries of a notification event already seen (same eventId), summed over
        /// orders: an at-least-once re-publish that consumers dedupe. Informational.
        var redelivered: Int
        /// This run's orders that GET /orders still lists as PENDING, PAID or RESERVED.
        var nonTerminal: Int
        /// Notifications for orders whose request failed, or that were never sent.
        var unexpected: Int
        var failures: [String: Int]
    }

    struct Ratios: Codable, Sendable, Hashable {
        /// e2e orders/s ÷ raw msgs/s.
        var throughput: Double
        /// e2e p50 ÷ raw hop p50.
        var latencyP50: Double
    }

    var runId: String
    var mode: String
    var target: String
    var api: String
    var brokers: String
    /// "sqlite" or "postgres": where the hosted platform kept its state.
    var store: String
    /// Instances of every service of the hosted platform.
    var instances: Int
    var targetRate: Double?
    var connections: Int
    var durationSeconds: Double
    var warmupSeconds: Double
    var acceptedPerSecond: Double
    var e2eOrdersPerSecond: Double
    var httpLatencyMs: LatencySummary
    var e2eLatencyMs: LatencySummary
    var counts: Counts
    var baseline: Baseline.Figures?
    var ratios: Ratios?
    var startupToReadySeconds: Double?
    var processes: [ProcessStats.Figures]
    var passed: Bool
    var problems: [String]
    var directory: String?

    /// Written out so that absent values are `null` rather than missing keys: every key is
    /// always there.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(runId, forKey: .runId)
        try container.encode(mode, forKey: .mode)
        try container.encode(target, forKey: .target)
        try container.encode(api, forKey: .api)
        try container.encode(brokers, forKey: .brokers)
        try container.encode(store, forKey: .store)
        try container.encode(instances, forKey: .instances)
        try container.encode(targetRate, forKey: .targetRate)
        try container.encode(connections, forKey: .connections)
        try container.encode(durationSeconds, forKey: .durationSeconds)
        try container.encode(warmupSeconds, forKey: .warmupSeconds)
        try container.encode(acceptedPerSecond, forKey: .acceptedPerSecond)
        try container.encode(e2eOrdersPerSecond, forKey: .e2eOrdersPerSecond)
        try container.encode(httpLatencyMs, forKey: .httpLatencyMs)
        try container.encode(e2eLatencyMs, forKey: .e2eLatencyMs)
        try container.encode(counts, forKey: .counts)
        try container.encode(baseline, forKey: .baseline)
        try container.encode(ratios, forKey: .ratios)
        try container.encode(startupToReadySeconds, forKey: .startupToReadySeconds)
        try container.encode(processes, forKey: .processes)
        try container.encode(passed, forKey: .passed)
        try container.encode(problems, forKey: .problems)
        try container.encode(directory, forKey: .directory)
    }

    func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func table() -> String {
        var lines: [String] = []
        func row(_ label: String, _ value: String) {
            lines.append(label.column + value)
        }
        row("run", "\(runId) (\(target): \(api), brokers \(brokers))")
        row("store", "\(store), \(instances) instance\(instances == 1 ? "" : "s") of each service")
        row(
            "mode",
            mode == "open" ? "open loop, \(connections) connections" : "closed loop, \(connections) connections"
        )
        if let targetRate { row("target rate", "\(Self.number(targetRate)) orders/s") }
        row(
            "duration",
            "\(Self.number(durationSeconds)) s"
                + (warmupSeconds > 0 ? " after \(Self.number(warmupSeconds)) s warm-up" : "")
        )
        if let startupToReadySeconds { row("startup to READY=1", "\(Self.number(startupToReadySeconds)) s") }
        row("accepted rate", "\(Self.number(acceptedPerSecond)) orders/s (measured window)")
        row("e2e throughput", "\(Self.number(e2eOrdersPerSecond)) orders/s (first send → last notification)")
        lines.append("")
        lines.append("latency (ms)".column + Self.latencyHeader)
        lines.append("http (due → 202)".column + Self.latencyRow(httpLatencyMs))
        lines.append("e2e (due → notification)".column + Self.latencyRow(e2eLatencyMs))
        if let baseline {
            lines.append("raw hop (produce → consume)".column + Self.latencyRow(baseline.hopLatencyMs))
        }
        lines.append("")
        row("sent", "\(counts.sent)")
        row("accepted", "\(counts.accepted)")
        row("completed", "\(counts.completed)")
        row("cancelled", "\(counts.cancelled)")
        row("failed", "\(counts.failed)" + Self.failureDetail(counts.failures))
        row("lost", "\(counts.lost)")
        row("duplicated notifications", "\(counts.duplicates) (distinct eventIds beyond one per order)")
        row("redelivered notifications", "\(counts.redelivered) (same eventId again; deduplicated, not a failure)")
        row("non-terminal", "\(counts.nonTerminal)")
        if counts.unexpected > 0 { row("unexpected notifications", "\(counts.unexpected)") }
        if let baseline {
            lines.append("")
            let size = "\(baseline.messages) × \(baseline.messageBytes) B"
            row("raw Kafka throughput", "\(Self.number(baseline.messagesPerSecond)) msgs/s (\(size))")
            if let ratios {
                row("e2e ÷ raw throughput", Self.number(ratios.throughput, digits: 4))
                row("e2e p50 ÷ raw hop p50", Self.number(ratios.latencyP50, digits: 1))
            }
        }
        lines.append("")
        lines.append("process".column + "CPU s".leftPad(10) + "peak RSS MiB".leftPad(14) + "  pids")
        for process in processes {
            lines.append(
                process.name.column
                    + Self.number(process.cpuSeconds, digits: 2).leftPad(10)
                    + Self.number(Double(process.peakRssBytes) / 1_048_576, digits: 1).leftPad(14)
                    + "  " + process.pids.map(String.init).joined(separator: ",")
            )
        }
        lines.append("")
        row("result", passed ? "PASSED" : "FAILED: " + problems.joined(separator: "; "))
        if let directory { row("directory", directory) }
        return lines.joined(separator: "\n")
    }

    private static let latencyHeader = ["p50", "p90", "p99", "p99.9", "max", "count"].map { $0.leftPad(10) }.joined()

    private static func latencyRow(_ summary: LatencySummary) -> String {
        [summary.p50, summary.p90, summary.p99, summary.p999, summary.max].map { number($0, digits: 2).leftPad(10) }
            .joined()
            + String(summary.count).leftPad(10)
    }

    private static func failureDetail(_ failures: [String: Int]) -> String {
        failures.isEmpty
            ? ""
            : " (" + failures.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")"
    }

    static func number(_ value: Double, digits: Int = 1) -> String {
        String(format: "%.\(digits)f", value)
    }
}

extension String {
    /// The label column of the table.
    fileprivate var column: String { padding(toLength: 30, withPad: " ", startingAt: 0) }

    fileprivate func leftPad(_ width: Int) -> String {
        count >= width ? " " + self : String(repeating: " ", count: width - count) + self
    }
}
