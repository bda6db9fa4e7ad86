import ArgumentParser
import Logging

/// `order-bench chaos`: runs faults under load against the real binaries, one platform per
/// fault, and prints one row per fault.
struct ChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Injects faults under load and counts what was lost or done twice (one row per fault).",
        discussion: """
            Each fault gets a platform of its own: an embedded broker hosted by order-bench (so it \
            outlives orderd and can be taken down), `orderd run` on it with a generated \
            configuration in a temporary directory, and an open-loop load of --rate orders per \
            second for --duration (every tenth order declined, every tenth for an unknown SKU: \
            charged, then refunded). The fault is injected during the load; then order-bench waits \
            for every accepted order's notification (at most --drain-timeout).

            FAULTS (--fault, repeatable; default: all, or with --short the cheap three)
            \(ChaosFault.allCases.map { "  \($0.rawValue): \($0.summary)" }.joined(separator: "\n"))

            COLUMNS
              accepted: 202 answers. terminal: accepted orders notified (completed or cancelled) \
            and not listed by GET /orders?status=PENDING|PAID|RESERVED. lost: accepted, not \
            terminal by the deadline. duplicated effects: per order, distinct eventIds beyond one \
            on payments.completed (a second charge), payments.refunded (a second refund) and \
            notifications.sent (a second notification), read back from the topics (the same \
            event re-published by a relay is counted as republished, not as a duplicate). \
            recover ready: from the fault (the kill; the broker back up; the command) until \
            `orderd status` shows every service ready again with a new process where one was \
            killed. recover flowing: from the fault until the first notification of an order due \
            after it. Both are medians over the fault's injections in the run.

            Exit status 0 when every row has lost 0 and duplicated effects 0 (and its own check: \
            every poison message dead-lettered, orderd's SIGTERM exit 0…), else 1.

            EXAMPLES
              order-bench chaos
              order-bench chaos --short --json
              order-bench chaos --fault broker-down --fault orderd-kill --rate 200 --duration 30s
            """
    )

    @Option(name: .customLong("fault"), help: "A fault to run (repeat for several); default all.")
    var faults: [ChaosFault] = []

    @Flag(help: "The short run of the tests: fewer orders, one injection, the cheap faults by default.")
    var short = false

    @Option(help: "Orders per second during each fault's load (default 100, --short 40).")
    var rate: Double?

    @Option(help: "Load time per fault (default 20s, --short 5s).")
    var duration: DurationArgument?

    @Option(help: "After the load, how long to wait for the notifications of accepted orders.")
    var drainTimeout = DurationArgument(.seconds(90), text: "90s")

    @Option(help: "LOG_LEVEL of every service: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Flag(help: "Keep every platform's temporary directory (config, log, databases).")
    var keep = false

    @Flag(help: "Print the rows as one JSON object on stdout instead of the table.")
    var json = false

    func validate() throws {
        _ = try settings()
    }

    func run() async throws {
        let settings = try settings()
        var rows: [ChaosRow] = []
        for fault in settings.faults {
            printToStandardError("order-bench chaos: \(fault.rawValue): \(fault.summary)…")
            let row = try await untilInterrupted { try await ChaosRun(settings: settings, fault: fault).execute() }
            printToStandardError("order-bench chaos: " + ChaosReport.tableRow(row))
            rows.append(row)
        }
        let report = ChaosReport(settings: settings, rows: rows)
        print(json ? try report.jsonText() : report.table())
        let failed = rows.filter { !$0.passed }
        guard failed.isEmpty else {
            printToStandardError(
                "order-bench chaos: FAILED: "
                    + failed.map { "\($0.fault): \($0.problems.joined(separator: "; "))" }.joined(separator: " | ")
            )
            throw ExitCode(1)
        }
    }

    private func settings() throws(ValidationError) -> ChaosSettings {
        let rate = rate ?? (short ? 40 : 100)
        guard rate > 0, rate.isFinite, rate <= 5_000 else {
            throw ValidationError("--rate must be greater than 0 and at most 5000 (orders per second), not \(rate)")
        }
        let duration = duration?.duration ?? (short ? .seconds(5) : .seconds(20))
        guard duration >= .seconds(2) else { throw ValidationError("--duration must be at least 2s") }
        guard drainTimeout.duration > .zero else { throw ValidationError("--drain-timeout must be longer than 0") }
        guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
            throw ValidationError(
                "--log-level must be one of trace, debug, info, notice, warning, error, critical, not \(logLevel)"
            )
        }
        var chosen: [ChaosFault] = []
        for fault in faults where !chosen.contains(fault) { chosen.append(fault) }
        return ChaosSettings(
            faults: chosen.isEmpty ? (short ? ChaosFault.shortRun : ChaosFault.allCases) : chosen,
            short: short,
            rate: rate,
            duration: duration,
            drainTimeout: drainTimeout.duration,
            serviceLogLevel: level,
            keep: keep
        )
    }
}

/// The validated options of a chaos run.
struct ChaosSettings: Sendable {
    var faults: [ChaosFault]
    var short: Bool
    var rate: Double
    var duration: Duration
    var drainTimeout: Duration
    var serviceLogLevel: Logger.Level
    var keep: Bool

    /// Where in the load a fault that strikes several times strikes (fractions of the duration).
    var points: [Double] { short ? [0.4] : [0.25, 0.5, 0.75] }

    /// How long the broker stays down.
    var brokerOutage: Duration { short ? .seconds(3) : .seconds(10) }

    /// The settings of one fault's load, for the parts shared with the benchmark.
    func benchSettings(runId: String) -> BenchSettings {
        BenchSettings(
            load: .open(rate: rate),
            connections: 16,
            duration: duration,
            warmup: .zero,
            drainTimeout: drainTimeout,
            requestTimeout: .seconds(10),
            target: .hosted(serviceLogLevel: serviceLogLevel, keepDirectory: keep),
            baselineMessages: nil,
            json: true,
            runId: runId
        )
    }
}
