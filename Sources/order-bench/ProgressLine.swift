/// The live progress line on stderr, once a second while the load and drain run.
struct ProgressLine: Sendable {
    var ledger: OrderLedger
    var start: ContinuousClock.Instant

    /// Prints until cancelled. The p99s are of the last second only, so a stall shows at once.
    func run() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
            let progress = ledger.progress
            let recent = ledger.takeRecentP99()
            func milliseconds(_ microseconds: UInt64?) -> String {
                microseconds.map { BenchReport.number(Double($0) / 1000, digits: 1) + " ms" } ?? "-"
            }
            let elapsed = Int((ContinuousClock.now - start).inSeconds.rounded())
            printToStandardError(
                "[\(elapsed)s] sent \(progress.sent)  accepted \(progress.accepted)  completed \(progress.notified)  "
                    + "in flight \(progress.inFlight)  failed \(progress.failed)  "
                    + "p99 last 1s: http \(milliseconds(recent.http)), e2e \(milliseconds(recent.e2e))"
            )
        }
    }
}
