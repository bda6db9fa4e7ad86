import Foundation
import Testing

/// Runs the short chaos suite of the real `order-bench` binary (one kill -9, poison messages, a
/// duplicate storm, each against its own platform): every row must have lost nothing and done
/// nothing twice. The full table (`order-bench chaos`) is in the README; speed is never asserted.
@Suite("order-bench chaos", .serialized)
struct ChaosTests {
    /// The subset of `order-bench chaos --json` the assertions need.
    struct Report: Decodable {
        struct Row: Decodable {
            struct Duplicated: Decodable {
                var charges: Int
                var refunds: Int
                var notifications: Int
            }

            var fault: String
            var accepted: Int
            var terminal: Int
            var lost: Int
            var duplicated: Duplicated
            var charged: Int
            var refunded: Int
            var notified: Int
            var recoverReadySeconds: [Double?]
            var notes: [String]
            var problems: [String]
            var passed: Bool
        }

        var rows: [Row]
        var passed: Bool
    }

    @Test("kill -9, poison and a duplicate storm under load: lost 0, duplicated effects 0")
    func shortRun() async throws {
        let (status, output) = try await TestProcess.run(
            "\(Platform.binaries)/order-bench",
            ["chaos", "--short", "--json"],
            timeout: .seconds(400)
        )
        let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") }, "no JSON:\n\(output)")
        let report = try JSONDecoder().decode(Report.self, from: Data(line.utf8))
        #expect(status == 0, "order-bench chaos failed:\n\(output.suffix(4000))")
        #expect(report.rows.map(\.fault) == ["kill-payment-service", "poison", "duplicate-storm"])
        for row in report.rows {
            #expect(row.accepted > 0, "\(row.fault): no order accepted")
            #expect(row.lost == 0, "\(row.fault): \(row.lost) lost; \(row.problems)")
            #expect(row.terminal == row.accepted, "\(row.fault)")
            #expect(row.duplicated.charges == 0, "\(row.fault): a second charge")
            #expect(row.duplicated.refunds == 0, "\(row.fault): a second refund")
            #expect(row.duplicated.notifications == 0, "\(row.fault): a second notification")
            // Every order was notified once; every tenth asks for an unknown SKU and is refunded.
            #expect(row.notified == row.accepted, "\(row.fault)")
            #expect(row.refunded > 0, "\(row.fault): no refund exercised")
            #expect(row.recoverReadySeconds.allSatisfy { $0 != nil }, "\(row.fault): not ready again")
            #expect(row.passed, "\(row.fault): \(row.problems)")
        }
        let poison = try #require(report.rows.first { $0.fault == "poison" })
        #expect(poison.notes.contains { $0.hasSuffix("dead-lettered") }, "\(poison.notes)")
        #expect(report.passed)
    }

    @Test("an unknown --fault is refused, naming the option and the faults")
    func unknownFault() async throws {
        let (status, output) = try await TestProcess.run(
            "\(Platform.binaries)/order-bench",
            ["chaos", "--fault", "meteor"],
            timeout: .seconds(30)
        )
        #expect(status != 0)
        #expect(output.contains("--fault"), "message: \(output)")
        #expect(output.contains("broker-down"), "message: \(output)")
    }

    @Test("order-bench without a load is still refused (the subcommand did not make it optional)")
    func benchStillNeedsALoad() async throws {
        let (status, output) = try await TestProcess.run(
            "\(Platform.binaries)/order-bench",
            ["--duration", "1s"],
            timeout: .seconds(30)
        )
        #expect(status != 0)
        #expect(output.contains("--rate"), "message: \(output)")
    }
}
