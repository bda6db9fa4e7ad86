import ArgumentParser
import Foundation
import Logging
import Storage

/// `order-bench`: drives the order API with a paced or saturating load and checks that every
/// accepted order reaches exactly one terminal notification.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order-bench",
        abstract: "Benchmarks the order platform end to end: POST /order → notifications.sent.",
        discussion: """
            By default order-bench starts the platform itself: `orderd run` (found next to \
            order-bench) with a generated configuration in a temporary directory — embedded broker, \
            ephemeral ports on 127.0.0.1, a fresh data directory — and stops it with SIGTERM at the \
            end. With --api and --brokers it targets a platform that is already running instead.

            LOAD
              Open loop (--rate): order i is due at start + i/rate, whatever happened before, and \
            its latency counts from that due time, so a stall shows up in the figures instead of \
            silently slowing the sender (no coordinated omission, as in wrk2). A pool of \
            --connections keep-alive HTTP/1.1 connections (default 64) takes orders from the \
            schedule; when all are busy an order waits, and the wait counts.
              Closed loop (--connections without --rate): each connection sends back-to-back, one \
            request at a time, for the duration: the platform's maximum. Latency counts from the send.
              Orders sent during --warmup are verified like the others but kept out of the latency \
            histograms and the accept rate; the measured window (--duration) follows it.

            WHAT IS MEASURED (HDR histograms, microsecond resolution, printed in ms)
              http: due time (open loop) or send time (closed loop) → the 202 Accepted response. \
            That is the API's answer: the order and its orders.created event are committed.
              e2e:  the same start → the order's notifications.sent event seen by the bench. That \
            event is the last one of every order's flow (completed or cancelled), and order-service \
            marks the order terminal on that same event, so the bench sees it when order-service does.
              baseline: before the orders (unless --no-baseline), raw librdkafka through the same \
            broker with messages the size of an orders.created event: throughput (--baseline-messages \
            produced as fast as the producer takes them, msgs/s from the first send to the last \
            consume) and one hop's latency (produce call → consumed, about 2 s at 200 msg/s). The \
            ratios e2e orders/s ÷ raw msgs/s and e2e p50 ÷ raw hop p50 say how much of the broker's \
            capacity and speed the platform keeps.
              processes: CPU seconds (utime + stime from /proc) over the measured run and peak RSS \
            (VmHWM) of orderd, each service and order-bench, sampled every second.

            VERIFICATION (exit status 0 only when all of it holds, else 1)
              After the load, the bench waits (at most --drain-timeout) for a notification for every \
            accepted order; then no order may be lost (accepted, never notified) or notified twice \
            (two notifications.sent events with different eventIds; the same event delivered again is \
            counted as redelivered and allowed), and GET /orders?status=PENDING|PAID|RESERVED must list \
            none of this run's orders. An answer other than 202, a connection error or a --request-timeout counts as failed.

            OUTPUT
              A progress line on stderr every second (runs longer than 3 s): elapsed, sent, \
            accepted, completed (notified: completed or cancelled), in flight (sent, not yet notified \
            or failed), failed, and the p99 of the last second only (http and e2e), so a stall shows at once.
              A table on stdout, or with --json one JSON object with these keys: runId, mode \
            ("open"|"closed"), target ("hosted"|"external"), api, brokers, store ("sqlite"|"postgres"), instances, targetRate (null in closed \
            loop), connections, durationSeconds, warmupSeconds, acceptedPerSecond (measured accepts ÷ \
            duration), e2eOrdersPerSecond (accepted ÷ first send → last notification), httpLatencyMs \
            and e2eLatencyMs ({count, p50, p90, p99, p999, max}), counts ({sent, accepted, completed, \
            cancelled, failed, lost, duplicates (distinct notification eventIds beyond one per order; fails \
            the run), redelivered (the same notification eventId delivered again: the relay publishes at \
            least once and consumers dedupe by eventId, so this is informational), nonTerminal, \
            unexpected, failures: {reason: count}}), \
            baseline (null or {topic, messageBytes, messages, messagesPerSecond, hopLatencyMs}), \
            ratios (null or {throughput, latencyP50}), startupToReadySeconds (null for --api), \
            processes ([{name, pids, cpuSeconds, peakRssBytes}]), passed, problems ([string]), \
            directory (hosted: the temporary directory, when kept).

            EXAMPLES
              order-bench --rate 500 --duration 30s
              order-bench --connections 32 --duration 20s
              order-bench --rate 200 --duration 1m --warmup 5s --json > result.json
              order-bench --api http://127.0.0.1:4000 --brokers 127.0.0.1:9092 --rate 100
              order-bench --api http://127.0.0.1:4000 --brokers "$(orderd status --json | jq -r .broker)" --embedded-broker --rate 100
              order-bench --connections 64 --duration 20s --database-url postgres://bench@127.0.0.1:5432/postgres --instances 2
              order-bench chaos --short
            """,
        subcommands: [ChaosCommand.self]
    )

    @Option(help: "Open loop: orders per second, on a fixed schedule (> 0).")
    var rate: Double?

    @Option(
        help:
            "Keep-alive connections. Open loop: the pool size (default 64). Without --rate: closed loop, each sends back-to-back."
    )
    var connections: Int?

    /// Optional so that `chaos`, which shares it, can tell whether it was given.
    @Option(help: "Measured load time, e.g. 30s, 500ms, 2m (default: 10s; chaos: 40s per fault).")
    var duration: DurationArgument?

    @Option(help: "Load before the measured window; its orders are verified but not in the latency figures.")
    var warmup = DurationArgument(.zero, text: "0s")

    @Option(help: "After the load, how long to wait for the notifications of accepted orders.")
    var drainTimeout = DurationArgument(.seconds(60), text: "60s")

    @Option(help: "How long one HTTP request may take before it counts as failed.")
    var requestTimeout = DurationArgument(.seconds(10), text: "10s")

    @Option(help: "Target a running platform's order API, http://host:port (needs --brokers).")
    var api: String?

    @Option(
        help: "With --api: the platform's Kafka bootstrap list, host:port[,host:port], to observe notifications.sent."
    )
    var brokers: String?

    @Flag(
        help:
            "With --api: the platform runs on orderd's embedded broker; use the low-latency client settings its services get."
    )
    var embeddedBroker = false

    @Option(
        help: "LOG_LEVEL of every service of the hosted platform: trace, debug, info, notice, warning, error, critical."
    )
    var logLevel: String = "info"

    @Flag(help: "Keep the hosted platform's temporary directory (config, log, databases).")
    var keep = false

    @Option(
        help: """
            Hosted platform on PostgreSQL: a server URL postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE on which the \
            bench creates a database for the run (order_bench_<run id>; the user needs CREATEDB) and drops it after \
            (kept with --keep or a failed run). Default: SQLite files in the run's directory.
            """
    )
    var databaseURL: String?

    @Option(help: "Instances of every service of the hosted platform, 1–9 (above 1 needs --database-url).")
    var instances = 1

    @Flag(help: "Skip the raw Kafka baseline.")
    var noBaseline = false

    @Option(help: "Messages of the baseline's throughput phase.")
    var baselineMessages = 20_000

    @Flag(help: "Print the result as one JSON object on stdout instead of the table.")
    var json = false

    func validate() throws {
        // Without a load this may be `order-bench chaos …` (validated before the subcommand is
        // parsed): run() refuses the missing load when it is not.
        guard rate != nil || connections != nil else { return }
        _ = try settings()
    }

    func run() async throws {
        let report = try await BenchRun(settings: try settings()).execute()
        if json {
            print(try report.jsonText())
        } else {
            print(report.table())
        }
        guard report.passed else {
            printToStandardError("order-bench: FAILED: " + report.problems.joined(separator: "; "))
            throw ExitCode(1)
        }
    }

    /// The validated settings; every error names the option at fault.
    private func settings() throws(ValidationError) -> BenchSettings {
        let load: BenchSettings.Load
        switch (rate, connections) {
        case (nil, nil):
            throw ValidationError("choose a load: --rate N (open loop) or --connections N without --rate (closed loop)")
        case (let rate?, _):
            guard rate > 0, rate.isFinite else {
                throw ValidationError("--rate must be greater than 0 (orders per second), not \(rate)")
            }
            load = .open(rate: rate)
        case (nil, _):
            load = .closed
        }
        let connections = connections ?? 64
        guard (1...10_000).contains(connections) else {
            throw ValidationError("--connections must be between 1 and 10000, not \(connections)")
        }
        let duration = duration?.duration ?? .seconds(10)
        guard duration > .zero else { throw ValidationError("--duration must be longer than 0") }
        guard requestTimeout.duration > .zero else { throw ValidationError("--request-timeout must be longer than 0") }
        guard baselineMessages > 0 else { throw ValidationError("--baseline-messages must be greater than 0") }
        return BenchSettings(
            load: load,
            connections: connections,
            duration: duration,
            warmup: warmup.duration,
            drainTimeout: drainTimeout.duration,
            requestTimeout: requestTimeout.duration,
            target: try target(),
            scale: try scale(),
            baselineMessages: noBaseline ? nil : baselineMessages,
            json: json,
            runId: BenchSettings.newRunId()
        )
    }

    private func scale() throws(ValidationError) -> BenchSettings.Scale {
        guard (1...9).contains(instances) else { throw ValidationError("--instances must be 1–9, not \(instances)") }
        guard databaseURL != nil || instances == 1 else {
            throw ValidationError(
                "--instances \(instances) needs --database-url: instances share one PostgreSQL database (with SQLite each would apply events again)"
            )
        }
        guard api == nil || (databaseURL == nil && instances == 1) else {
            throw ValidationError("--database-url and --instances apply to the hosted platform only, not with --api")
        }
        guard let databaseURL else { return BenchSettings.Scale() }
        do {
            return BenchSettings.Scale(database: try DatabaseURL(databaseURL), instances: instances)
        } catch {
            throw ValidationError("--database-url: \(error)")
        }
    }

    private func target() throws(ValidationError) -> BenchSettings.Target {
        switch (api, brokers) {
        case (nil, nil):
            guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
                throw ValidationError(
                    "--log-level must be one of trace, debug, info, notice, warning, error, critical, not \(logLevel)"
                )
            }
            return .hosted(serviceLogLevel: level, keepDirectory: keep)
        case (nil, _) where embeddedBroker:
            throw ValidationError(
                "--embedded-broker is for a running platform (with --api); a hosted one always is on it"
            )
        case (nil, _?):
            throw ValidationError(
                "--brokers is only for a running platform: give --api too, or neither to host the platform"
            )
        case (_?, nil):
            throw ValidationError(
                "--api needs --brokers: without Kafka the bench cannot observe notifications.sent, so it cannot verify any order"
            )
        case (let api?, let brokers?):
            guard !keep else { throw ValidationError("--keep applies to the hosted platform only, not with --api") }
            let endpoint: APIEndpoint
            switch APIEndpoint.parse(api) {
            case .success(let parsed): endpoint = parsed
            case .failure(let error): throw ValidationError(error.description)
            }
            let list = brokers.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !list.isEmpty,
                list.allSatisfy({ $0.split(separator: ":").count == 2 && Int($0.split(separator: ":")[1]) != nil })
            else {
                throw ValidationError("--brokers must be host:port[,host:port…], not \(brokers)")
            }
            return .external(api: endpoint, brokers: list.joined(separator: ","), embeddedBroker: embeddedBroker)
        }
    }
}
