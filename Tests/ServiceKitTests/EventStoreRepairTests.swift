import ArgumentParser
import Foundation
import GRDB
import Kafka
import OrderEvents
@testable import ServiceKit
import Synchronization
import Storage
import StorageTesting
import Testing

@Suite("Putting a store right: set-aside outbox rows and dead letters, on a real SQLite file")
struct EventStoreRepairTests {
    @Test(
        "a set-aside row holds back the later rows of its key only; requeue and discard release them, a bad id changes nothing"
    )
    func setAsideRowsHoldTheirKey() async throws {
        let directory = try TemporaryDirectory()
        let store = try await EventStore(directory: directory.path, name: "svc", topics: .defaults)
        try await store.database.write { transaction in
            for key in ["k", "k", "other", "k"] { try store.enqueue([orderCreated(key)], trace: nil, in: transaction) }
        }
        try await store.markFailed(1, error: "message not delivered (10): too large")
        #expect(try await store.unsent(limit: 10).map(\.id) == [3])
        #expect(try await store.pendingCount() == 3)
        let rows = try await store.setAsideRows()
        #expect(rows.map(\.id) == [1])
        #expect(rows.first?.heldBack == 2)
        #expect(rows.first?.key == Array("k".utf8))

        await #expect(throws: RepairError.notSetAside([2, 9])) { try await store.requeueSetAside([1, 2, 9]) }
        await #expect(throws: RepairError.notSetAside([3])) { try await store.discardSetAside([3]) }
        #expect(try await store.failedCount() == 1)

        #expect(try await store.requeueSetAside([1]).map(\.id) == [1])
        #expect(try await store.unsent(limit: 10).map(\.id) == [1, 2, 3, 4])
        #expect(try await store.setAsideRows().isEmpty)

        try await store.markFailed(2, error: "too large")
        #expect(try await store.unsent(limit: 10).map(\.id) == [1, 3])
        #expect(try await store.discardSetAside([2]).map(\.id) == [2])
        #expect(try await store.unsent(limit: 10).map(\.id) == [1, 3, 4])
        #expect(
            try await store.database.read { transaction in
                try transaction.fetchValue(Int.self, "SELECT COUNT(*) FROM outbox")
            } == 3
        )
    }

    @Test("a replay after the fix applies the event once, in one transaction; a second replay is a no-op that says so")
    func replayAppliesOnce() async throws {
        let directory = try TemporaryDirectory()
        let store = try await EventStore(directory: directory.path, name: "svc", topics: .defaults)
        let event = orderCreated("poison-1")
        let handler = FixableHandler()
        let id = try await deadLetter(event, at: 7, in: store)
        let outboxBefore = try await count("outbox", in: store)

        // Not fixed yet: still rejected, and nothing changes.
        let rejected = try await store.replayDeadLetter(id, handler: handler)
        #expect(rejected == .stillRejected("rejected OrderCreated: not yet"))
        #expect(try await count("inbox", in: store) == 0)
        #expect(try await count("outbox", in: store) == outboxBefore)
        #expect(try await store.deadLetters().first?.replayedAt == nil)

        handler.fixed.withLock { $0 = true }
        let applied = try await store.replayDeadLetter(id, handler: handler)
        guard case .applied(events: 1, _) = applied else {
            Issue.record("unexpected \(applied)")
            return
        }
        #expect(handler.counting.totalApplied == 1)
        #expect(try await count("inbox", in: store) == 1)
        let published = try await store.unsent(limit: 10).filter { $0.message.topic == "payments.completed" }
        #expect(published.map(\.message.key) == [Array("poison-1".utf8)])
        let letter = try #require(try await store.deadLetters().first)
        #expect(letter.replayedAt != nil)
        #expect(letter.replayOutcome == applied.description)

        let again = try await store.replayDeadLetter(id, handler: handler)
        guard case .alreadyReplayed = again else {
            Issue.record("unexpected \(again)")
            return
        }
        #expect(handler.counting.totalApplied == 1)
        #expect(try await count("outbox", in: store) == outboxBefore + 1)

        // The same event dead-lettered at another position, after it was applied: the inbox
        // dedupes it; it is marked replayed without being applied.
        let second = try await deadLetter(event, at: 8, in: store)
        #expect(try await store.replayDeadLetter(second, handler: handler) == .alreadyProcessed)
        #expect(handler.counting.totalApplied == 1)
        await #expect(throws: RepairError.unknownDeadLetters([99])) { try await store.deadLetters([second, 99]) }
    }

    @Test(
        "the v4 migration keeps older dead letters, recovers their message from the outbox's .dlq copy, and says which cannot be replayed"
    )
    func migrationFromV3() async throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/svc.sqlite"
        let event = orderCreated("old-1")
        let original = [KafkaHeader(name: EventHeader.eventType, string: event.type.rawValue)]
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: Self.v3Schema)
            try db.execute(
                sql: """
                    INSERT INTO dead_letters VALUES ('orders.created', 0, 5, 'rejected', '2026-01-01T00:00:00.000Z');
                    INSERT INTO dead_letters VALUES ('orders.created', 1, 9, 'undecodable', '2026-01-01T00:00:01.000Z');
                    """
            )
            try db.execute(
                sql: "INSERT INTO outbox (topic, message_key, value, headers, created_at) VALUES (?, ?, ?, ?, '')",
                arguments: [
                    "orders.created.dlq", Data("old-1".utf8), Data(try EventCodec.encode(event)),
                    try StoredHeader.encode(
                        original + [
                            KafkaHeader(name: "dlq-source-topic", string: "orders.created"),
                            KafkaHeader(name: "dlq-source-partition", string: "0"),
                            KafkaHeader(name: "dlq-source-offset", string: "5"),
                        ]
                    ),
                ]
            )
        }
        try queue.close()
        let store = try await EventStore(directory: directory.path, name: "svc", topics: .defaults)
        let letters = try await store.deadLetters()
        #expect(letters.map(\.sourceOffset) == [5, 9])
        #expect(letters.map(\.hasMessage) == [true, false])
        #expect(letters.first?.key == Array("old-1".utf8))
        let headers = try await store.database.read { transaction in
            try transaction.fetchValue(String.self, "SELECT headers FROM dead_letters WHERE source_offset = 5")
        }
        #expect(try StoredHeader.decode(try #require(headers)) == original)

        let handler = FixableHandler()
        handler.fixed.withLock { $0 = true }
        #expect(try await store.replayDeadLetter(letters[1].id, handler: handler) == .noStoredMessage)
        #expect(try await store.deadLetters()[1].replayedAt == nil)
        guard case .applied = try await store.replayDeadLetter(letters[0].id, handler: handler) else {
            Issue.record("the recovered dead letter was not applied")
            return
        }
        // New dead letters keep their message and get the next id.
        let id = try await deadLetter(orderCreated("new-1"), at: 11, in: store)
        #expect(id == 3)
    }

    @Test("the subcommands: ids or --all, not both and not neither; discard names its rows")
    func commandLine() throws {
        #expect(throws: (any Error).self) { try OperatorCommand.parseAsRoot(["outbox", "requeue"]) }
        #expect(throws: (any Error).self) { try OperatorCommand.parseAsRoot(["outbox", "requeue", "--all", "3"]) }
        #expect(throws: (any Error).self) { try OperatorCommand.parseAsRoot(["outbox", "discard", "--all"]) }
        #expect(throws: (any Error).self) { try OperatorCommand.parseAsRoot(["dead-letters", "replay", "x"]) }
        let replay = try #require(
            try OperatorCommand.parseAsRoot(["dead-letters", "replay", "2", "1"]) as? DeadLettersCommand.Replay
        )
        #expect(replay.selection.chosen == [2, 1])
        let all = try #require(
            try OperatorCommand.parseAsRoot(["outbox", "requeue", "--all"]) as? OutboxCommand.Requeue
        )
        #expect(all.selection.chosen == nil)
        #expect(try OperatorCommand.parseAsRoot(["outbox", "list"]) is OutboxCommand.List)
    }

    private func count(_ table: String, in store: EventStore) async throws -> Int {
        try await store.database.read { transaction in
            try transaction.fetchValue(Int.self, "SELECT COUNT(*) FROM \(table)") ?? 0
        }
    }

    /// The platform's schema after its first three migrations, as GRDB recorded them.
    static let v3Schema = """
        CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
        INSERT INTO grdb_migrations VALUES ('platform-v1'), ('platform-v2-outbox-failures'), ('platform-v3-pruning');
        CREATE TABLE inbox (event_id TEXT PRIMARY KEY NOT NULL, topic TEXT NOT NULL, processed_at TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, message_key BLOB, value BLOB NOT NULL,
            headers TEXT NOT NULL, created_at TEXT NOT NULL, sent_at TEXT, failed_at TEXT, error TEXT
        );
        CREATE INDEX outbox_unsent ON outbox(id) WHERE sent_at IS NULL AND failed_at IS NULL;
        CREATE TABLE dead_letters (
            source_topic TEXT NOT NULL, source_partition INTEGER NOT NULL, source_offset INTEGER NOT NULL,
            error TEXT NOT NULL, created_at TEXT NOT NULL,
            PRIMARY KEY (source_topic, source_partition, source_offset)
        ) WITHOUT ROWID;
        CREATE INDEX outbox_sent ON outbox(sent_at) WHERE sent_at IS NOT NULL;
        CREATE INDEX inbox_processed ON inbox(processed_at);
        """
}

/// Rejects every event until `fixed`, then answers as ``CountingHandler``.
final class FixableHandler: EventHandler {
    let fixed = Mutex(false)
    let counting = CountingHandler()

    func handle(_ event: EventEnvelope, in transaction: any SQLTransaction) throws -> Reaction {
        guard fixed.withLock({ $0 }) else { throw EventRejected("not yet") }
        return try counting.handle(event, in: transaction)
    }
}

/// Dead-letters `event` as consumed from orders.created partition 0 at `offset`.
/// - Returns: the dead letter's id.
func deadLetter(_ event: EventEnvelope, at offset: Int64, in store: EventStore) async throws -> Int64 {
    let message = KafkaMessage(
        topic: "orders.created",
        partition: 0,
        offset: offset,
        key: Array(event.key.utf8),
        value: try EventCodec.encode(event),
        headers: [KafkaHeader(name: EventHeader.eventType, string: event.type.rawValue)]
    )
    return try await store.database.write { transaction in
        #expect(try store.deadLetter(message, error: "rejected", service: "svc", in: transaction))
        return try #require(
            try transaction.fetchValue(Int64.self, "SELECT id FROM dead_letters WHERE source_offset = ?", [offset])
        )
    }
}
