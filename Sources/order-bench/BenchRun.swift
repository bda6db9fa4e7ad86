import Kafka
import Logging
import Storage
import NIOCore
import NIOPosix

/// One run from start to verdict: host the platform (or not), baseline, load, drain, verify.
struct BenchRun: Sendable {
    var settings: BenchSettings

    private var group: any EventLoopGroup { MultiThreadedEventLoopGroup.singleton }

    /// The bench's own Kafka clients log warnings only: their info lines (assignments) would
    /// drown the progress line.
    private var logger: Logger {
        var logger = Logger(label: "order-bench")
        logger.logLevel = .warning
        return logger
    }

    /// - Throws: ``BenchError`` when no result could be measured (the platform did not start,
    ///   Kafka was unreachable, interrupted); a result that fails verification is returned.
    func execute() async throws -> BenchReport {
        switch settings.target {
        case .external(let api, let brokers, let embeddedBroker):
            let stats = ProcessStats(selection: .named(["orderd"] + PlatformConfiguration.services))
            let properties = embeddedBroker ? EmbeddedKafkaCluster.lowLatencyProperties : []
            let settings = self
            return try await untilInterrupted {
                try await settings.measure(
                    api: api,
                    brokers: brokers,
                    properties: properties,
                    stats: stats,
                    startup: nil
                )
            }
        case .hosted(let level, let keep):
            return try await hosted(serviceLogLevel: level, keep: keep)
        }
    }

    private func hosted(serviceLogLevel: Logger.Level, keep: Bool) async throws -> BenchReport {
        // A database of the run's own on the given server: the services' schemas have fixed names.
        let databaseName = "order_bench_\(settings.runId)"
        var database: DatabaseURL?
        if let server = self.settings.scale.database {
            note("creating database \(databaseName) on \(server)…")
            database = try await PostgreSQLServer.createDatabase(databaseName, on: server, logger: logger)
        }
        let platform = try HostedPlatform.launch(
            runId: settings.runId,
            logLevel: serviceLogLevel,
            database: database,
            instances: self.settings.scale.instances
        )
        let settings = self
        let outcome: Result<BenchReport, any Error>
        do {
            outcome = .success(
                try await untilInterrupted {
                    let (startup, broker) = try await platform.waitUntilReady(timeout: .seconds(120))
                    return try await settings.measure(
                        api: platform.api,
                        apis: platform.apis,
                        brokers: broker,
                        properties: EmbeddedKafkaCluster.lowLatencyProperties,
                        stats: ProcessStats(selection: .children(of: platform.orderd.pid)),
                        startup: startup
                    )
                }
            )
        } catch {
            outcome = .failure(error)
        }
        // Always stopped, whatever happened above (this task is not the cancelled one).
        let exit = await platform.stop()
        guard case .success(var report) = outcome else {
            printToStandardError("order-bench: last lines of orderd's log \(platform.logPath):\n\(platform.logTail())")
            printToStandardError("order-bench: kept \(platform.directory)")
            return try outcome.get()
        }
        if exit != .exited(0) {
            report.problems.append("orderd ended with \(exit.map(String.init(describing:)) ?? "no exit") after SIGTERM")
            report.passed = false
        }
        if keep || !report.passed {
            report.directory = platform.directory
            if let database { note("kept database \(database)") }
        } else {
            platform.removeDirectory()
            if let server = self.settings.scale.database {
                do {
                    try await PostgreSQLServer.dropDatabase(databaseName, on: server, logger: logger)
                } catch {
                    printToStandardError("order-bench: could not drop database \(databaseName) on \(server): \(error)")
                }
            }
        }
        if !report.passed {
            printToStandardError("order-bench: kept \(platform.directory); orderd's log: \(platform.logPath)")
        }
        return report
    }

    /// Baseline, then the order load against `api`, observing notifications through `brokers`.
    private func measure(
        api: APIEndpoint,
        apis: [APIEndpoint]? = nil,
        brokers: String,
        properties: [KafkaProperty],
        stats: ProcessStats,
        startup: Duration?
    ) async throws -> BenchReport {
        var baseline: Baseline.Figures?
        if let messages = settings.baselineMessages {
            note("raw Kafka baseline on \(brokers)…")
            baseline = try await Baseline(
                brokers: brokers,
                properties: properties,
                settings: settings,
                messages: messages,
                embeddedBroker: settings.usesEmbeddedBroker,
                logger: logger
            ).run()
        }
        let ledger = OrderLedger()
        let observer = try NotificationObserver(
            brokers: brokers,
            properties: properties,
            settings: settings,
            ledger: ledger,
            logger: logger
        )
        return try await observer.running {
            try await observer.waitForAssignment(timeout: .seconds(60))
            let load = OrderLoad(settings: settings, apis: apis ?? [api], group: group, ledger: ledger)
            let settings = self.settings
            let group = self.group
            let run = self
            let verdict: Result<[String], any Error> = await withTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await observer.observe() }
                tasks.addTask { await stats.run() }
                defer { tasks.cancelAll() }
                stats.markStart()
                run.note("\(settings.load.name) loop against \(api)…")
                let loadStart = ContinuousClock.now
                if settings.showsProgress {
                    tasks.addTask { await ProgressLine(ledger: ledger, start: loadStart).run() }
                }
                do {
                    try await load.run()
                    await Self.drain(ledger, timeout: settings.drainTimeout)
                    stats.sample()
                    let nonTerminal = try await NonTerminalCheck(
                        api: api,
                        prefix: settings.orderIdPrefix,
                        group: group,
                        timeout: max(settings.requestTimeout, .seconds(10))
                    ).run()
                    return .success(nonTerminal)
                } catch {
                    return .failure(error)
                }
            }
            await observer.stop()
            let nonTerminal = try verdict.get()
            return report(
                ledger.summary(),
                nonTerminal: nonTerminal,
                baseline: baseline,
                stats: stats,
                startup: startup,
                api: api,
                brokers: brokers
            )
        }
    }

    /// A phase announcement on stderr, unless the run is a quiet one (short, JSON only).
    private func note(_ text: String) {
        if settings.showsProgress || !settings.json { printToStandardError("order-bench: " + text) }
    }

    /// Waits until every accepted order has its notification, at most `timeout`, then a moment
    /// more so that a duplicate close behind the first is counted too.
    private static func drain(_ ledger: OrderLedger, timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while ledger.awaitingNotification > 0, ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(50)) } catch { return }
        }
        try? await Task.sleep(for: .milliseconds(500))
    }

    private func report(
        _ summary: OrderLedger.Summary,
        nonTerminal: [String],
        baseline: Baseline.Figures?,
        stats: ProcessStats,
        startup: Duration?,
        api: APIEndpoint,
        brokers: String
    ) -> BenchReport {
        let e2eSeconds = zip(summary.firstSend, summary.lastNotification).map { ($1 - $0).inSeconds } ?? 0
        let e2eRate = e2eSeconds > 0 ? Double(summary.accepted) / e2eSeconds : 0
        let http = LatencySummary(summary.http)
        let e2e = LatencySummary(summary.e2e)
        var problems: [String] = []
        if summary.accepted == 0 { problems.append("no order was accepted") }
        if summary.lost > 0 {
            problems.append("\(summary.lost) accepted orders got no notification within --drain-timeout")
        }
        if summary.duplicates > 0 {
            problems.append(
                "\(summary.duplicates) duplicated notifications (an order notified under more than one eventId)"
            )
        }
        if !nonTerminal.isEmpty {
            problems.append(
                "\(nonTerminal.count) orders not terminal: \(nonTerminal.prefix(5).joined(separator: ", "))"
            )
        }
        let ratios = baseline.flatMap { baseline -> BenchReport.Ratios? in
            guard baseline.messagesPerSecond > 0, baseline.hopLatencyMs.p50 > 0 else { return nil }
            return BenchReport.Ratios(
                throughput: e2eRate / baseline.messagesPerSecond,
                latencyP50: e2e.p50 / baseline.hopLatencyMs.p50
            )
        }
        let targetRate: Double? = if case .open(let rate) = settings.load { rate } else { nil }
        return BenchReport(
            runId: settings.runId,
            mode: settings.load.name,
            target: settings.isHosted ? "hosted" : "external",
            api: api.description,
            brokers: brokers,
            store: settings.scale.database == nil ? "sqlite" : "postgres",
            instances: settings.scale.instances,
            targetRate: targetRate,
            connections: settings.connections,
            durationSeconds: settings.duration.inSeconds,
            warmupSeconds: settings.warmup.inSeconds,
            acceptedPerSecond: Double(summary.measuredAccepted) / settings.duration.inSeconds,
            e2eOrdersPerSecond: e2eRate,
            httpLatencyMs: http,
            e2eLatencyMs: e2e,
            counts: BenchReport.Counts(
                sent: summary.sent,
                accepted: summary.accepted,
                completed: summary.completed,
                cancelled: summary.cancelled,
                failed: summary.failed,
                lost: summary.lost,
                duplicates: summary.duplicates,
                redelivered: summary.redelivered,
                nonTerminal: nonTerminal.count,
                unexpected: summary.unexpected,
                failures: summary.failures
            ),
            baseline: baseline,
            ratios: ratios,
            startupToReadySeconds: startup?.inSeconds,
            processes: stats.figures(),
            passed: problems.isEmpty,
            problems: problems,
            directory: nil
        )
    }
}

/// Both values, or nil.
private func zip<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}
