import Foundation
import Kafka
import Logging
import NIOPosix
import OrderEvents

/// One row of the chaos table: a platform of its own, the load with the fault injected, the
/// drain, and the verdict read back from the topics and the order API.
struct ChaosRun: Sendable {
    var settings: ChaosSettings
    var fault: ChaosFault

    private var logger: Logger {
        var logger = Logger(label: "order-bench-chaos")
        logger.logLevel = .warning
        return logger
    }

    /// Every tenth order is declined (over the payment limit) and every tenth asks for an unknown
    /// SKU (charged, rejected by inventory, refunded), so charges and refunds are both exercised.
    static func body(number: Int, orderId: String) -> String {
        let email = #""customer":{"email":"chaos@example.com"}"#
        return switch number % 10 {
        case 0: #"{"orderId":"\#(orderId)","amount":20000,"items":[{"sku":"SKU-1","quantity":1}],\#(email)}"#
        case 1: #"{"orderId":"\#(orderId)","amount":42,"items":[{"sku":"CHAOS-NONE","quantity":1}],\#(email)}"#
        default: OrderLoad.body(orderId: orderId)
        }
    }

    /// Whether order `number` is charged, reserved and notified: not declined, not for the unknown SKU.
    static func crossesEveryService(_ number: Int) -> Bool { number % 10 >= 2 }

    func execute() async throws -> ChaosRow {
        let bench = settings.benchSettings(runId: BenchSettings.newRunId())
        let platform = try ChaosPlatform.launch(runId: bench.runId, logLevel: settings.serviceLogLevel)
        let outcome: Result<ChaosRow, any Error>
        do {
            _ = try await platform.orderd.waitUntilReady(timeout: .seconds(120))
            outcome = .success(try await measure(platform, bench))
        } catch {
            outcome = .failure(error)
        }
        let orderd = platform.orderd
        let exit = await orderd.stop()
        guard case .success(var row) = outcome else {
            printToStandardError(
                "order-bench chaos: last lines of orderd's log \(orderd.logPath):\n\(orderd.logTail())"
            )
            printToStandardError("order-bench chaos: kept \(orderd.directory)")
            return try outcome.get()
        }
        if exit != .exited(0) {
            row.problems.append("orderd ended with \(exit.map(String.init(describing:)) ?? "no exit") after SIGTERM")
        }
        row.passed = row.problems.isEmpty
        if settings.keep || !row.passed {
            row.directory = orderd.directory
            printToStandardError("order-bench chaos: kept \(orderd.directory); orderd's log: \(orderd.logPath)")
        } else {
            orderd.removeDirectory()
        }
        return row
    }

    private func measure(_ platform: ChaosPlatform, _ bench: BenchSettings) async throws -> ChaosRow {
        let ledger = OrderLedger()
        let poisonPrefix = "chaos-\(bench.runId)-poison-"
        let observer = try ChaosObserver(
            brokers: platform.brokers,
            settings: bench,
            poisonPrefix: poisonPrefix,
            ledger: ledger,
            logger: logger
        )
        let producer = try KafkaProducer(
            configuration: KafkaClientConfiguration(
                bootstrapServers: platform.brokers,
                clientId: "order-bench-chaos-\(bench.runId)",
                statisticsInterval: nil,
                properties: EmbeddedKafkaCluster.lowLatencyProperties
            ),
            logger: logger,
            shutdownTimeout: .seconds(2)
        )
        let group = MultiThreadedEventLoopGroup.singleton
        let fault = fault
        let settings = settings
        return try await withRunningClients(producer) {
            try await observer.running {
                try await observer.waitForAssignment(timeout: .seconds(60))
                let (outcome, start, nonTerminal) = try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { await observer.observe() }
                    defer { tasks.cancelAll() }
                    let start = ContinuousClock.now
                    let load = OrderLoad(
                        settings: bench,
                        apis: [platform.api],
                        group: group,
                        ledger: ledger,
                        makeBody: { Self.body(number: $0, orderId: $1) }
                    )
                    async let loaded: Void = load.run()
                    let injection = ChaosInjection(
                        fault: fault,
                        settings: settings,
                        platform: platform,
                        observer: observer,
                        ledger: ledger,
                        producer: producer,
                        loadStart: start,
                        poisonPrefix: poisonPrefix
                    )
                    var outcome = try await injection.run()
                    try await loaded
                    await Self.drain(ledger, observer, timeout: settings.drainTimeout)
                    if let before = outcome.skippedBefore, let after = await injection.skippedRepeats() {
                        outcome.notes.append("the inboxes skipped \(Int(after - before)) repeats")
                    }
                    let nonTerminal = try await NonTerminalCheck(
                        api: platform.api,
                        prefix: bench.orderIdPrefix,
                        group: group,
                        timeout: .seconds(10)
                    ).run()
                    return (outcome, start, nonTerminal)
                }
                await observer.stop()
                return ChaosRow(
                    fault: fault,
                    settings: settings,
                    loadStart: start,
                    summary: ledger.summary(),
                    tally: observer.tally,
                    injection: outcome,
                    nonTerminal: nonTerminal,
                    firstNotification: observer.firstNotification(ofOrdersFrom:)
                )
            }
        }
    }

    /// Waits until every accepted order has its notification (at most `timeout`), then until
    /// the topics are quiet for a second (at most 15 s more), so that a late duplicate — a
    /// second charge behind the first — is counted too.
    private static func drain(_ ledger: OrderLedger, _ observer: ChaosObserver, timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while ledger.awaitingNotification > 0, ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(50)) } catch { return }
        }
        let quietDeadline = ContinuousClock.now + .seconds(15)
        var count = observer.messageCount
        var quietSince = ContinuousClock.now
        while ContinuousClock.now < quietDeadline, ContinuousClock.now - quietSince < .seconds(1) {
            do { try await Task.sleep(for: .milliseconds(100)) } catch { return }
            let now = observer.messageCount
            if now != count {
                count = now
                quietSince = ContinuousClock.now
            }
        }
    }
}
