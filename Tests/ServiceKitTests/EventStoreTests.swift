import Foundation
import Kafka
import OrderEvents
@testable import ServiceKit
import Storage
import StorageTesting
import Testing

@Suite("Inbox and outbox on a real SQLite file and a real PostgreSQL server")
struct EventStoreTests {
    @Test("the same event delivered twice changes nothing the second time", arguments: TestBackend.allCases)
    func duplicateDelivery(_ backend: TestBackend) async throws {
        let directory = try TemporaryDirectory()
        let store = try await openStore(backend, in: directory)
        let handler = CountingHandler()
        let event = orderCreated("dup-1")
        let (first, published) = try await store.handle(event, topic: "orders.created", trace: nil) { transaction in
            try handler.handle(event, in: transaction).events
        }
        let (second, republished) = try await store.handle(event, topic: "orders.created", trace: nil) { transaction in
            try handler.handle(event, in: transaction).events
        }
        #expect(first == .processed)
        #expect(published.count == 1)
        #expect(second == .duplicate)
        #expect(republished.isEmpty)
        #expect(handler.totalApplied == 1)
        let unsent = try await unsentRows(store, atLeast: 1)
        #expect(unsent.count == 1)
        #expect(unsent[0].message.topic == "payments.completed")
        #expect(unsent[0].message.key == Array("dup-1".utf8))
    }

    @Test("two instances opening one PostgreSQL schema at once migrate it once and apply each event once between them")
    func instancesShareTheInbox() async throws {
        let directory = try TemporaryDirectory()
        let name = TestPostgresServer.uniqueName()
        async let opening = openStore(.postgres, in: directory, name: name)
        let first = try await openStore(.postgres, in: directory, name: name)
        let second = try await opening
        let handler = CountingHandler()
        let events = (0..<40).map { orderCreated("shared-\($0)") }
        let outcomes = try await withThrowingTaskGroup(of: [EventStore.Outcome].self) { group in
            for store in [first, second] {
                group.addTask {
                    var outcomes: [EventStore.Outcome] = []
                    for event in events {
                        outcomes.append(
                            try await store.handle(event, topic: "orders.created", trace: nil) { transaction in
                                try handler.handle(event, in: transaction).events
                            }.0
                        )
                    }
                    return outcomes
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(outcomes.filter { $0 == .processed }.count == events.count)
        #expect(outcomes.filter { $0 == .duplicate }.count == events.count)
        #expect(handler.totalApplied == events.count)
        #expect(try await first.pendingCount() == events.count)
        #expect(try await unsentRows(second, atLeast: events.count).count == events.count)
    }

    @Test("a second open of the same database is refused while the first is open; it may open once that one is gone")
    func oneOpenerAtATime() async throws {
        let directory = try TemporaryDirectory()
        var first: EventStore? = try await EventStore(directory: directory.path, name: "svc", topics: .defaults)
        #expect(first != nil)
        await #expect(throws: EventStore.InUse(path: "\(directory.path)/svc.sqlite")) {
            try await EventStore(directory: directory.path, name: "svc", topics: .defaults)
        }
        _ = try await EventStore(directory: directory.path, name: "other", topics: .defaults)
        first = nil
        _ = try await EventStore(directory: directory.path, name: "svc", topics: .defaults)
    }

    @Test("a failing handler rolls back the inbox, the change and the outbox together", arguments: TestBackend.allCases)
    func rollback(_ backend: TestBackend) async throws {
        let directory = try TemporaryDirectory()
        let store = try await openStore(backend, in: directory)
        let event = orderCreated("rollback-1")
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            _ = try await store.handle(event, topic: "orders.created", trace: nil) { transaction in
                try store.enqueue([event], trace: nil, in: transaction)
                throw Boom()
            }
        }
        #expect(try await store.unsent(limit: 10).isEmpty)
        // Not recorded in the inbox: a retry is processed, not skipped as a duplicate.
        let (outcome, _) = try await store.handle(event, topic: "orders.created", trace: nil) { _ in [] }
        #expect(outcome == .processed)
    }

    @Test(
        "outbox rows carry the event type and a traceparent continuing the incoming trace",
        arguments: TestBackend.allCases
    )
    func outboxHeaders(_ backend: TestBackend) async throws {
        let directory = try TemporaryDirectory()
        let store = try await openStore(backend, in: directory)
        let trace = TraceContext.root()
        let event = orderCreated("trace-1")
        _ = try await store.handle(event, topic: "orders.created", trace: trace) { transaction in
            try CountingHandler().handle(event, in: transaction).events
        }
        let record = try #require(try await unsentRows(store, atLeast: 1).first)
        let headers = Dictionary(uniqueKeysWithValues: record.message.headers.map { ($0.name, $0.stringValue ?? "") })
        #expect(headers[EventHeader.eventType] == "PaymentCompleted")
        let child = try #require(TraceContext(traceparent: headers[EventHeader.traceparent] ?? ""))
        #expect(child.traceId == trace.traceId)
        #expect(child.spanId != trace.spanId)
        #expect(try EventCodec.decode(record.message.value).type == .paymentCompleted)
    }

    @Test(
        "pruning deletes sent outbox rows and inbox entries older than their cutoffs; unsent, failed and recent rows stay",
        arguments: TestBackend.allCases
    )
    func pruning(_ backend: TestBackend) async throws {
        let directory = try TemporaryDirectory()
        let store = try await openStore(backend, in: directory)
        let now = Date()
        try await seedForPruning(store, now: now)
        #expect(try await store.pruneOutbox(sentBefore: now.addingTimeInterval(-600)) == 1)
        #expect(try await store.pruneInbox(processedBefore: now.addingTimeInterval(-7 * 24 * 3600)) == 1)
        try await expectPrunedSeed(store)
        #expect(try await store.pruneOutbox(sentBefore: now.addingTimeInterval(-600)) == 0)
    }

    @Test("pruning works in bounded chunks, oldest first", arguments: TestBackend.allCases)
    func pruningChunks(_ backend: TestBackend) async throws {
        let directory = try TemporaryDirectory()
        let store = try await openStore(backend, in: directory)
        let now = Date()
        try await store.database.write { transaction in
            for minutes in 1...5 {
                let at = Timestamp.format(now.addingTimeInterval(-Double(minutes) * 3600))
                try transaction.execute(
                    "INSERT INTO outbox (topic, message_key, value, headers, created_at, sent_at) VALUES ('t', ?, ?, '[]', ?, ?)",
                    [Array("sent-\(minutes)".utf8), [0] as [UInt8], at, at]
                )
                try transaction.execute(
                    "INSERT INTO inbox (event_id, topic, processed_at) VALUES (?, 't', ?)",
                    ["event-\(minutes)", Timestamp.format(now.addingTimeInterval(-Double(minutes) * 8 * 24 * 3600))]
                )
            }
        }
        let cutoff = now.addingTimeInterval(-60)
        #expect(try await store.pruneOutbox(sentBefore: cutoff, limit: 2) == 2)
        // The two oldest went first.
        let left = try await store.database.read { transaction in
            try transaction.fetchAll("SELECT message_key FROM outbox ORDER BY id", []).map {
                String(decoding: try $0[0] as [UInt8], as: UTF8.self)
            }
        }
        #expect(left == ["sent-1", "sent-2", "sent-3"])
        #expect(try await store.pruneOutbox(sentBefore: cutoff, limit: 2) == 2)
        #expect(try await store.pruneOutbox(sentBefore: cutoff, limit: 2) == 1)
        let inboxCutoff = now.addingTimeInterval(-7 * 24 * 3600)
        #expect(try await store.pruneInbox(processedBefore: inboxCutoff, limit: 3) == 3)
        #expect(try await store.pruneInbox(processedBefore: inboxCutoff, limit: 3) == 2)
    }

    @Test("pruning and marking find their rows through indexes, never by scanning a table")
    func pruningUsesIndexes() async throws {
        let directory = try TemporaryDirectory()
        let store = try await openStore(.sqlite, in: directory)
        let plans = try await store.database.read { transaction in
            try [
                "SELECT id FROM outbox WHERE sent_at IS NOT NULL AND sent_at < '2024' ORDER BY sent_at LIMIT 5000",
                "SELECT event_id FROM inbox WHERE processed_at < '2024' ORDER BY processed_at LIMIT 5000",
                "SELECT id FROM outbox WHERE id > 10 AND sent_at IS NULL AND failed_at IS NULL ORDER BY id LIMIT 500",
            ].map { sql in
                try transaction.fetchAll("EXPLAIN QUERY PLAN " + sql, []).map { try $0["detail"] as String }.joined(
                    separator: "; "
                )
            }
        }
        #expect(
            plans[0].contains("USING INDEX outbox_sent") || plans[0].contains("USING COVERING INDEX outbox_sent"),
            "\(plans[0])"
        )
        #expect(plans[1].contains("INDEX inbox_processed"), "\(plans[1])")
        #expect(plans[2].contains("outbox_unsent") || plans[2].contains("INTEGER PRIMARY KEY"), "\(plans[2])")
        for plan in plans { #expect(!plan.contains("SCAN outbox") && !plan.contains("SCAN inbox"), "\(plan)") }
    }

    @Test("marking rows sent skips its own fsync but leaves every later commit fully synced")
    func markSentRestoresFullSync() async throws {
        let directory = try TemporaryDirectory()
        let store = try await openStore(.sqlite, in: directory)
        let event = orderCreated("sync-1")
        _ = try await store.handle(event, topic: "orders.created", trace: nil) { _ in
            [
                event.caused(
                    .orderCreated(
                        OrderCreated(
                            amount: Amount(exactly: "1")!,
                            currency: "USD",
                            customerEmail: nil,
                            items: []
                        )
                    )
                )
            ]
        }
        let rows = try await store.unsent(limit: 10)
        try #require(rows.count == 1)
        try await store.markSent(rows.map(\.id))
        #expect(try await store.pendingCount() == 0)
        // 2 = FULL: the writer connection is back to syncing every commit.
        let mode = try await store.database.write { try $0.fetchValue(Int.self, "PRAGMA synchronous") }
        #expect(mode == 2)
    }
}

/// Outbox rows (keyed by what they are) and inbox entries on both sides of the default
/// retentions (10 minutes sent, 7 days processed).
func seedForPruning(_ store: EventStore, now: Date) async throws {
    let hourAgo = Timestamp.format(now.addingTimeInterval(-3600))
    let minuteAgo = Timestamp.format(now.addingTimeInterval(-60))
    try await store.database.write { transaction in
        for (key, sentAt, failedAt) in [
            ("old-sent", hourAgo, nil), ("recent-sent", minuteAgo, nil), ("old-unsent", nil, nil),
            ("old-failed", nil, hourAgo),
        ] as [(String, String?, String?)] {
            try transaction.execute(
                """
                INSERT INTO outbox (topic, message_key, value, headers, created_at, sent_at, failed_at)
                VALUES ('orders.created', ?, ?, '[]', ?, ?, ?)
                """,
                [Array(key.utf8), [0] as [UInt8], hourAgo, sentAt, failedAt]
            )
        }
        for (id, age) in [("old", 8.0 * 24 * 3600), ("recent", 24.0 * 3600)] {
            try transaction.execute(
                "INSERT INTO inbox (event_id, topic, processed_at) VALUES (?, 'orders.created', ?)",
                [id, Timestamp.format(now.addingTimeInterval(-age))]
            )
        }
    }
}

func expectPrunedSeed(_ store: EventStore) async throws {
    let (outbox, inbox) = try await store.database.read { transaction in
        (
            try transaction.fetchAll("SELECT message_key FROM outbox ORDER BY id", []).map {
                String(decoding: try $0[0] as [UInt8], as: UTF8.self)
            },
            try transaction.fetchAll("SELECT event_id FROM inbox ORDER BY event_id", []).map { try $0[0] as String }
        )
    }
    #expect(outbox == ["recent-sent", "old-unsent", "old-failed"])
    #expect(inbox == ["recent"])
}
