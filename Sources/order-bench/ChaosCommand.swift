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
            after it that crosses every service (charged, reserved, notified) (`-` when the load was over before the fault). Both are medians over the \
            fault's injections in the run; recover ready `never` fails the row.

            Exit status 0 when every row has lost 0 and duplicated effects 0 (and its own check: \
            every poison message dead-lettered, orderd's SIGTERM exit 0…), else 1.

            OPTIONS SHARED WITH order-bench (before or after `chaos`)
              --rate (default 100, --short 40), --duration per fault (default 40s, --short 5s), \
            --drain-timeout (default 60s), --log-level, --keep, --json.

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

    /// --rate, --duration, --drain-timeout, --log-level, --keep and --json are order-bench's
    /// own options (the parser gives them to order-bench wherever they stand).
    @ParentCommand var bench: BenchCommand

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
        print(bench.json ? try report.jsonText() : report.table())
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
        let rate = bench.rate ?? (short ? 40 : 100)
        guard rate > 0, rate.isFinite, rate <= 5_000 else {
            throw ValidationError("--rate must be greater than 0 and at most 5000 (orders per second), not \(rate)")
        }
        let duration = bench.duration?.duration ?? (short ? .seconds(5) : .seconds(40))
        guard duration >= .seconds(2) else { throw ValidationError("--duration must be at least 2s") }
        guard bench.drainTimeout.duration > .zero else {
            throw ValidationError("--drain-timeout must be longer than 0")
        }
        guard let level = Logger.Level(rawValue: bench.logLevel.lowercased()) else {
            throw ValidationError(
                "--log-level must be one of trace, debug, info, notice, warning, error, critical, not \(bench.logLevel)"
            )
        }
        var chosen: [ChaosFault] = []
        for fault in faults where !chosen.contains(fault) { chosen.append(fault) }
        return ChaosSettings(
            faults: chosen.isEmpty ? (short ? ChaosFault.shortRun : ChaosFault.allCases) : chosen,
            short: short,
            rate: rate,
            duration: duration,
            drainTimeout: bench.drainTimeout.duration,
            serviceLogLevel: level,
            keep: bench.keep
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
    /// Three strikes 12 s apart at the default 40 s: about the time a killed consumer takes to be
    /// replaced in its group, so each strike finds the platform recovered from the one before.
    var points: [Double] { short ? [0.4] : [0.2, 0.5, 0.8] }

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
