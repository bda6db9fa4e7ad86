import Foundation
import Testing

/// Runs the real `order-bench` binary: a short hosted run must verify every order, and bad input
/// must be refused naming the option. Speed figures are never asserted (the machine is shared).
@Suite("order-bench", .serialized)
struct OrderBenchTests {
    /// The subset of `--json` the assertions need (the full key list is in `order-bench --help`).
    struct Result: Decodable {
        struct Counts: Decodable {
            var sent: Int
            var accepted: Int
            var completed: Int
            var cancelled: Int
            var failed: Int
            var lost: Int
            var duplicates: Int
            var redelivered: Int
            var nonTerminal: Int
        }

        struct Baseline: Decodable {
            var messages: Int
            var messagesPerSecond: Double
        }

        var mode: String
        var counts: Counts
        var baseline: Baseline?
        var startupToReadySeconds: Double?
        var passed: Bool
    }

    @Test("a short open-loop run on a hosted platform verifies every order")
    func hostedOpenLoop() async throws {
        let (status, output) = try await runBench([
            "--rate", "20", "--duration", "3s", "--json", "--baseline-messages", "2000",
        ])
        let line = try #require(
            output.split(separator: "\n").last { $0.hasPrefix("{") },
            "no JSON on stdout:\n\(output)"
        )
        let result = try JSONDecoder().decode(Result.self, from: Data(line.utf8))
        #expect(status == 0, "order-bench failed:\n\(output.suffix(4000))")
        #expect(result.passed)
        #expect(result.mode == "open")
        #expect(result.counts.accepted > 0)
        #expect(result.counts.lost == 0)
        // Distinct notification eventIds per order; a re-published copy of the same event counts as
        // redelivered, which is allowed (at-least-once publish, dedupe by eventId) and not asserted.
        #expect(result.counts.duplicates == 0)
        #expect(result.counts.nonTerminal == 0)
        #expect(result.counts.completed + result.counts.cancelled == result.counts.accepted)
        #expect(result.baseline?.messages == 2000)
        #expect(result.startupToReadySeconds != nil)
    }

    @Test("--rate 0 is refused, naming the option")
    func zeroRateIsRefused() async throws {
        let (status, output) = try await runBench(["--rate", "0", "--duration", "1s"])
        #expect(status != 0)
        #expect(output.contains("--rate"), "message: \(output)")
    }

    @Test("--api without --brokers is refused: notifications cannot be observed")
    func apiNeedsBrokers() async throws {
        let (status, output) = try await runBench(["--api", "http://127.0.0.1:4000", "--rate", "10"])
        #expect(status != 0)
        #expect(output.contains("--brokers"), "message: \(output)")
    }

    /// Runs order-bench from the build directory with stdout and stderr in one log.
    private func runBench(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await TestProcess.run("\(Platform.binaries)/order-bench", arguments, timeout: .seconds(300))
    }
}
