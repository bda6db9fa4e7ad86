import Dispatch
import Foundation
import GRDB
import Kafka
import Logging
import OrderEvents
@testable import OrderService
import ServiceKit
import Synchronization
import Storage
import StorageTesting
import Testing

/// The group commit against a real store: answers per order within a shared transaction, and a
/// transaction-ending error failing the whole batch. Batching is made certain, not hoped for:
/// submissions are queued while the database's write lock is held, or before the intake runs.
@Suite("OrderIntake group commit", .timeLimit(.minutes(2)))
struct OrderIntakeTests {
    typealias Acceptance = OrderIntake.Acceptance

    @Test("concurrent submissions share one commit; each gets its own answer: accepted, repeated or conflict")
    func batchedAnswers() async throws {
        let harness = try await IntakeHarness()
        try await harness.running { intake in
            let gate = WriteGate()
            defer { gate.open() }
            let holder = gate.hold(harness.store)
            try await waitUntil("the write lock is held") { gate.isHeld }

            // Batch 1: one order, taken by the intake, its commit waiting for the lock.
            let first = harness.submit(orderId: "first", amount: "1")
            try await waitUntil("the first batch is in flight") {
                intake.statistics.submitted == 1 && intake.queuedSubmissions == 0
            }
            // Batch 2 piles up behind it: the original of "dup" first, then everything else at once.
            let original = harness.submit(orderId: "dup", amount: "10")
            try await waitUntil("the original is queued") { intake.queuedSubmissions == 1 }
            let distinct = (0..<20).map { harness.submit(orderId: "o-\($0)", amount: "\($0 + 2)") }
            let repeated = harness.submit(orderId: "dup", amount: "10")
            let conflicting = harness.submit(orderId: "dup", amount: "11")
            try await waitUntil("all 23 are queued") { intake.queuedSubmissions == 23 }

            gate.open()
            try await holder.value

            #expect(try await first.value.acceptedId == "first")
            #expect(try await original.value.acceptedId == "dup")
            for (number, task) in distinct.enumerated() {
                #expect(try await task.value.acceptedId == "o-\(number)")
            }
            let repeatedAnswer = try await repeated.value
            #expect(repeatedAnswer.repeatedId == "dup", "got \(repeatedAnswer)")
            let conflictAnswer = try await conflicting.value
            #expect(conflictAnswer.isConflict, "got \(conflictAnswer)")

            // Two commits: the lone first order, then the 23 queued behind it in one transaction.
            let statistics = intake.statistics
            #expect(statistics.commits == 2)
            #expect(statistics.largestBatch > 1)
            #expect(statistics.largestBatch == 23)

            let stored = try await harness.storedCounts()
            #expect(stored.orders == 22)
            #expect(stored.outbox == 22)
            let dup = try await harness.store.database.read { transaction in
                try OrderTables.fetch("dup", in: transaction)
            }
            #expect(dup?.amount == Amount(exactly: "10"))
        }
    }

    @Test("SQLITE_FULL in the middle of a batch fails every order of it and stores none, not only the one that hit it")
    func databaseFullFailsTheWholeBatch() async throws {
        let harness = try await IntakeHarness()
        // No page may be added: the first orders still fit in the empty tables' pages, later ones
        // (60 orders of 20 items, far more than a page each table) need new pages and hit SQLITE_FULL.
        try await harness.store.database.sqlitePool.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
        // Queued before the intake runs, so its first batch takes all of them.
        let items = (0..<20).map { LineItem(sku: "SKU-\($0)-" + String(repeating: "x", count: 40), quantity: $0 + 1) }
        let submissions = (0..<60).map { harness.submit(orderId: "full-\($0)", amount: "\($0 + 1)", items: items) }
        try await waitUntil("all 60 are queued") { harness.intake.queuedSubmissions == 60 }

        try await harness.running { intake in
            for (number, task) in submissions.enumerated() {
                switch await task.result {
                case .success(let answer):
                    Issue.record("order \(number) was answered \(answer) although its batch was rolled back")
                case .failure(let error):
                    #expect((error as? DatabaseError)?.resultCode == .SQLITE_FULL, "order \(number): \(error)")
                }
            }
            #expect(intake.statistics.commits == 0)

            try await harness.store.database.sqlitePool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA max_page_count = 1073741823")
            }
            let stored = try await harness.storedCounts()
            #expect(stored.orders == 0)
            #expect(stored.outbox == 0)

            // The intake goes on: with room again, the next order is stored.
            #expect(try await harness.submit(orderId: "after", amount: "5").value.acceptedId == "after")
        }
    }
}

/// Holds the database's write lock until ``open()``: a commit started meanwhile waits, and the
/// submissions arriving during it pile up for the next batch.
private final class WriteGate: Sendable {
    private let held = Mutex(false)
    private let release = DispatchSemaphore(value: 0)
    private let opened = Mutex(false)

    /// A write transaction that waits for ``open()`` (at most a minute, so a failed test cannot
    /// hang the run) on GRDB's writer queue, not on the cooperative pool.
    func hold(_ store: EventStore) -> Task<Void, any Error> {
        Task {
            try await store.database.write { _ in
                self.held.withLock { $0 = true }
                _ = self.release.wait(timeout: .now() + .seconds(60))
            }
        }
    }

    var isHeld: Bool { held.withLock { $0 } }

    /// Lets the held transaction finish; later calls do nothing.
    func open() {
        let first = opened.withLock { opened in
            defer { opened = true }
            return !opened
        }
        if first { release.signal() }
    }
}

@Suite("OrderIntake: two instances on one PostgreSQL schema", .timeLimit(.minutes(2)))
struct OrderIntakeInstancesTests {
    @Test("the same order posted to two instances at once: one accepted, the other answered from it; never an error")
    func repeatedPostOnTwoInstances() async throws {
        let name = TestPostgresServer.uniqueName()
        let first = try await IntakeHarness(postgresSchema: name)
        let second = try await IntakeHarness(postgresSchema: name)
        try await first.running { _ in
            try await second.running { _ in
                for round in 0..<20 {
                    let id = "same-\(round)"
                    let answers = [
                        first.submit(orderId: id, amount: "5"), second.submit(orderId: id, amount: "5"),
                    ]
                    var accepted = 0
                    var repeated = 0
                    for answer in answers {
                        switch try await answer.value {
                        case .accepted(let record): accepted += record.orderId == id ? 1 : 0
                        case .repeated(let record): repeated += record.orderId == id ? 1 : 0
                        case .conflict: Issue.record("\(id) answered as a conflict")
                        }
                    }
                    #expect(accepted == 1 && repeated == 1, "\(id): \(accepted) accepted, \(repeated) repeated")
                }
            }
        }
        let stored = try await first.storedCounts()
        #expect(stored.orders == 20)
        #expect(stored.outbox == 20)
    }
}
