import Foundation
import OrderEvents

/// One fault's figures. JSON keys as the properties.
struct ChaosRow: Codable, Sendable {
    struct Duplicated: Codable, Sendable, Hashable {
        /// A second PaymentCompleted (new eventId) for an order.
        var charges: Int
        /// A second PaymentRefunded.
        var refunds: Int
        /// A second NotificationSent.
        var notifications: Int
        var total: Int { charges + refunds + notifications }
    }

    var fault: String
    var sent: Int
    var accepted: Int
    /// Requests without a 202 (orderd down, a timeout); never accepted, so never lost.
    var failed: Int
    var terminal: Int
    var lost: Int
    var duplicated: Duplicated
    /// The same event delivered again on a topic (a relay re-published an unmarked row).
    var republished: Int
    /// Orders charged, refunded, notified (distinct orders on those topics).
    var charged: Int
    var refunded: Int
    var notified: Int
    /// Per strike, seconds; null when not all ready again within the wait.
    var recoverReadySeconds: [Double?]
    /// Per strike, seconds to the first notification of an order due after it; null when none came.
    var recoverFlowingSeconds: [Double?]
    var notes: [String]
    var problems: [String]
    var passed: Bool
    var directory: String?

    init(
        fault: ChaosFault,
        settings: ChaosSettings,
        loadStart: ContinuousClock.Instant,
        summary: OrderLedger.Summary,
        tally: ChaosObserver.Tally,
        injection: InjectionOutcome,
        nonTerminal: [String],
        firstNotification: (Int) -> ContinuousClock.Instant?
    ) {
        self.fault = fault.rawValue
        sent = summary.sent
        accepted = summary.accepted
        failed = summary.failed
        lost = summary.lost + nonTerminal.count
        terminal = summary.accepted - lost
        duplicated = Duplicated(
            charges: tally.duplicated[Topics.defaults.paymentsCompleted] ?? 0,
            refunds: tally.duplicated[Topics.defaults.paymentsRefunded] ?? 0,
            notifications: max(tally.duplicated[Topics.defaults.notificationsSent] ?? 0, summary.duplicates)
        )
        republished = tally.republished
        charged = tally.ordersWith[Topics.defaults.paymentsCompleted] ?? 0
        refunded = tally.ordersWith[Topics.defaults.paymentsRefunded] ?? 0
        notified = tally.ordersWith[Topics.defaults.notificationsSent] ?? 0
        recoverReadySeconds = injection.ready.map { $0?.inSeconds }
        recoverFlowingSeconds = injection.strikes.map { strike in
            let first = Int(((strike - loadStart).inSeconds * settings.rate).rounded(.up))
            return firstNotification(first).map { ($0 - strike).inSeconds }
        }
        notes = injection.notes
        if tally.replayed > 0 { notes.append("\(tally.replayed) storm copies seen") }
        problems = injection.problems
        if summary.accepted == 0 { problems.append("no order was accepted") }
        if summary.lost > 0 { problems.append("\(summary.lost) accepted orders got no notification") }
        if !nonTerminal.isEmpty {
            problems.append(
                "\(nonTerminal.count) orders not terminal: \(nonTerminal.prefix(5).joined(separator: ", "))"
            )
        }
        if duplicated.total > 0 {
            problems.append(
                "duplicated effects: \(duplicated.charges) charges, \(duplicated.refunds) refunds, \(duplicated.notifications) notifications"
            )
        }
        if tally.deadLetteredEvents > 0 {
            problems.append("\(tally.deadLetteredEvents) events of real orders were dead-lettered")
        }
        if fault == .poison {
            notes.append("\(tally.deadLettered.count)/\(injection.poisonSent) dead-lettered")
            if tally.deadLettered.count != injection.poisonSent {
                problems.append(
                    "\(injection.poisonSent - tally.deadLettered.count) of \(injection.poisonSent) poison messages not on orders.created.dlq"
                )
            }
        }
        if !tally.leaked.isEmpty { problems.append("\(tally.leaked.count) poison messages caused events") }
        if recoverReadySeconds.contains(where: { $0 == nil }) {
            problems.append("the platform was not all ready again after a strike")
        }
        passed = problems.isEmpty
        directory = nil
    }
}

/// Every row of a chaos run, as a table or JSON.
struct ChaosReport: Encodable, Sendable {
    var rate: Double
    var durationSeconds: Double
    var short: Bool
    var rows: [ChaosRow]
    var passed: Bool

    init(settings: ChaosSettings, rows: [ChaosRow]) {
        rate = settings.rate
        durationSeconds = settings.duration.inSeconds
        short = settings.short
        self.rows = rows
        passed = rows.allSatisfy(\.passed)
    }

    func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    static let header =
        "fault                      accepted terminal lost dup(charge/refund/notif) republished recover-ready recover-flowing"

    func table() -> String {
        var lines = [
            "order-bench chaos: \(Int(rate)) orders/s for \(durationSeconds) s per fault",
            Self.header,
        ]
        lines += rows.map(Self.tableRow)
        for row in rows where !row.notes.isEmpty || !row.problems.isEmpty {
            lines.append(
                "  \(row.fault): " + (row.notes + row.problems.map { "PROBLEM: " + $0 }).joined(separator: "; ")
            )
        }
        lines.append(passed ? "passed: lost 0, duplicated effects 0 in every row" : "FAILED")
        return lines.joined(separator: "\n")
    }

    static func tableRow(_ row: ChaosRow) -> String {
        let duplicated = "\(row.duplicated.charges)/\(row.duplicated.refunds)/\(row.duplicated.notifications)"
        return [
            row.fault.padding(toLength: 26, withPad: " ", startingAt: 0),
            String(row.accepted).leftPadded(8),
            String(row.terminal).leftPadded(8),
            String(row.lost).leftPadded(4),
            duplicated.leftPadded(25),
            String(row.republished).leftPadded(11),
            seconds(row.recoverReadySeconds, missing: "never").leftPadded(13),
            seconds(row.recoverFlowingSeconds).leftPadded(15),
        ].joined(separator: " ")
    }

    /// The median of the strikes' figures, `-` when there is none; with `missing`, shown when a
    /// strike has no figure.
    static func seconds(_ values: [Double?], missing: String? = nil) -> String {
        let known = values.compactMap { $0 }.sorted()
        if let missing, known.count < values.count { return missing }
        guard !known.isEmpty else { return "-" }
        return String(format: "%.2f s", known[known.count / 2])
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
