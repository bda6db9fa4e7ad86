import Foundation
import Kafka
import OrderEvents
import Storage

// What an operator uses to put things right while the service is stopped: outbox rows set aside
// by the relay (requeue or discard them) and dead-lettered messages (replay them after a fix).
extension EventStore {
    /// Migration "platform-v4-repair": an index of set-aside outbox rows (the relay's reads leave
    /// out the later rows of their keys through it), and dead letters that keep their message
    /// (key, value, headers) and an id, so that an operator can replay them.
    ///
    /// Dead letters recorded before it kept only their position and error; their message is
    /// recovered from the `<topic>.dlq` copy where the outbox still has it (unsent, or sent
    /// within ``defaultOutboxRetention``), and otherwise stays unknown: such a dead letter cannot
    /// be replayed from the store (its message is the value of its `<topic>.dlq` copy).
    /// SQLite only: PostgreSQL schemas start with these tables as they are now.
    static func migrateForRepair(_ transaction: any SQLTransaction) throws {
        try transaction.execute(
            """
                CREATE INDEX outbox_set_aside ON outbox(topic, message_key, id) WHERE failed_at IS NOT NULL;
                CREATE TABLE dead_letters_v4 (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    source_topic TEXT NOT NULL,
                    source_partition INTEGER NOT NULL,
                    source_offset INTEGER NOT NULL,
                    error TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    message_key BLOB,
                    value BLOB,
                    headers TEXT,
                    replayed_at TEXT,
                    replay_outcome TEXT,
                    UNIQUE (source_topic, source_partition, source_offset)
                );
                INSERT INTO dead_letters_v4 (source_topic, source_partition, source_offset, error, created_at)
                    SELECT source_topic, source_partition, source_offset, error, created_at FROM dead_letters
                    ORDER BY created_at, source_topic, source_partition, source_offset;
                DROP TABLE dead_letters;
                ALTER TABLE dead_letters_v4 RENAME TO dead_letters;
            """
        )
        let copies = try transaction.fetchAll(
            "SELECT message_key, value, headers FROM outbox WHERE topic LIKE ?",
            ["%" + Topics.deadLetter(of: "")]
        )
        for copy in copies {
            let headers = try StoredHeader.decode(try copy["headers"])
            let source = { (name: String) in headers.first { $0.name == name }?.stringValue }
            guard let topic = source("dlq-source-topic"), let partition = source("dlq-source-partition"),
                let offset = source("dlq-source-offset")
            else { continue }
            let key: [UInt8]? = try copy["message_key"]
            let value: [UInt8] = try copy["value"]
            try transaction.execute(
                """
                UPDATE dead_letters SET message_key = ?, value = ?, headers = ?
                WHERE source_topic = ? AND source_partition = ? AND source_offset = ? AND value IS NULL
                """,
                [
                    key, value, try StoredHeader.encode(headers.filter { !$0.name.hasPrefix("dlq-") }), topic,
                    partition, offset,
                ]
            )
        }
    }

    // MARK: - Set-aside outbox rows

    /// An outbox row the relay set aside because Kafka will never accept it as it is.
    public struct SetAsideRow: Sendable, Hashable {
        public var id: Int64
        public var topic: String
        public var key: [UInt8]?
        /// When the row was written to the outbox, and when it was set aside.
        public var createdAt: String
        public var failedAt: String
        /// Why Kafka refused it.
        public var error: String
        /// Unsent rows of the same topic and key after it, which wait for it.
        public var heldBack: Int
    }

    /// The rows set aside, in id order, with how many later rows of their key each holds back.
    public func setAsideRows() async throws -> [SetAsideRow] {
        try await database.read { transaction in
            try transaction.fetchAll(
                """
                SELECT f.id, f.topic, f.message_key, f.created_at, f.failed_at, f.error,
                    (SELECT COUNT(*) FROM outbox AS o
                     WHERE o.topic = f.topic AND \(transaction.dialect.same("o.message_key", "f.message_key"))
                       AND o.id > f.id AND o.sent_at IS NULL AND o.failed_at IS NULL) AS held_back
                FROM outbox AS f WHERE f.failed_at IS NOT NULL ORDER BY f.id
                """,
                []
            ).map { row in
                SetAsideRow(
                    id: try row["id"],
                    topic: try row["topic"],
                    key: try row["message_key"],
                    createdAt: try row["created_at"],
                    failedAt: try row["failed_at"],
                    error: try row["error"] ?? "",
                    heldBack: try row["held_back"]
                )
            }
        }
    }

    /// Puts set-aside rows back in the outbox as unsent, in one transaction: the relay publishes
    /// them at its next start, in id order with the rows of their keys they held back. `nil`
    /// requeues every set-aside row.
    /// - Returns: the rows requeued, as they were.
    /// - Throws: ``RepairError/notSetAside(_:)`` when an id is not a set-aside row; nothing changes.
    public func requeueSetAside(_ ids: [Int64]?) async throws -> [SetAsideRow] {
        try await changeSetAside(ids, sql: "UPDATE outbox SET failed_at = NULL, error = NULL WHERE id = ?")
    }

    /// Deletes set-aside rows, in one transaction: their events are never published, and the
    /// later rows of their keys are published at the relay's next start.
    /// - Returns: the rows discarded, as they were.
    /// - Throws: ``RepairError/notSetAside(_:)`` when an id is not a set-aside row; nothing changes.
    public func discardSetAside(_ ids: [Int64]) async throws -> [SetAsideRow] {
        try await changeSetAside(ids, sql: "DELETE FROM outbox WHERE id = ?")
    }

    private func changeSetAside(_ ids: [Int64]?, sql: String) async throws -> [SetAsideRow] {
        let rows = try await setAsideRows()
        let chosen = try Self.choose(ids, from: rows, id: \.id, unknown: RepairError.notSetAside)
        try await database.write { transaction in
            for row in chosen { try transaction.execute(sql + " AND failed_at IS NOT NULL", [row.id]) }
        }
        return chosen
    }

    /// The rows named by `ids` (all of them for nil), or the error naming the ids not among them.
    private static func choose<Row>(
        _ ids: [Int64]?,
        from rows: [Row],
        id: (Row) -> Int64,
        unknown: ([Int64]) -> RepairError
    ) throws(RepairError) -> [Row] {
        guard let ids else { return rows }
        let byId = Dictionary(rows.map { (id($0), $0) }) { first, _ in first }
        let missing = ids.filter { byId[$0] == nil }
        guard missing.isEmpty else { throw unknown(missing) }
        return Array(Set(ids)).sorted().compactMap { byId[$0] }
    }

    // MARK: - Dead letters

    /// A dead-lettered message, as recorded.
    public struct DeadLetterRecord: Sendable, Hashable {
        public var id: Int64
        public var sourceTopic: String
        public var sourcePartition: Int32
        public var sourceOffset: Int64
        /// Why it was dead-lettered, and when.
        public var error: String
        public var createdAt: String
        /// The message's key; nil also when ``hasMessage`` is false.
        public var key: [UInt8]?
        /// False for a dead letter recorded before the store kept messages (migration
        /// "platform-v4-repair") whose message could not be recovered: it cannot be replayed.
        public var hasMessage: Bool
        /// When it was replayed, and what the replay did (``ReplayOutcome``'s text).
        public var replayedAt: String?
        public var replayOutcome: String?
    }

    /// Every dead letter, in the order they were recorded.
    public func deadLetters() async throws -> [DeadLetterRecord] {
        try await database.read { transaction in
            try transaction.fetchAll(
                """
                SELECT id, source_topic, source_partition, source_offset, error, created_at, message_key,
                    value IS NOT NULL AS has_message, replayed_at, replay_outcome
                FROM dead_letters ORDER BY id
                """,
                []
            ).map { row in
                DeadLetterRecord(
                    id: try row["id"],
                    sourceTopic: try row["source_topic"],
                    sourcePartition: try row["source_partition"],
                    sourceOffset: try row["source_offset"],
                    error: try row["error"],
                    createdAt: try row["created_at"],
                    key: try row["message_key"],
                    hasMessage: try row["has_message"],
                    replayedAt: try row["replayed_at"],
                    replayOutcome: try row["replay_outcome"]
                )
            }
        }
    }

    /// What replaying one dead letter did.
    public enum ReplayOutcome: Sendable, Hashable, CustomStringConvertible {
        /// The handler applied the event; `events` outgoing events were written to the outbox
        /// (the relay publishes them at the service's next start). The dead letter is marked
        /// replayed in the same transaction.
        case applied(events: Int, summary: String)
        /// The inbox already had the event's id (it was processed another way): nothing was
        /// applied; the dead letter is marked replayed.
        case alreadyProcessed
        /// Replayed before: nothing done.
        case alreadyReplayed(at: String, outcome: String)
        /// Still undecodable or rejected by the handler: nothing changed.
        case stillRejected(String)
        /// Recorded before the store kept messages: nothing changed; the message is the value of
        /// the `<topic>.dlq` copy.
        case noStoredMessage

        /// What happened, in words an operator can act on.
        public var description: String {
            switch self {
            case .applied(let events, let summary): "applied (\(summary)); \(events) event(s) queued in the outbox"
            case .alreadyProcessed: "already processed (its event id is in the inbox): nothing applied, marked replayed"
            case .alreadyReplayed(let at, let outcome): "already replayed at \(at) (\(outcome)): nothing done"
            case .stillRejected(let reason): "still rejected, nothing changed: \(reason)"
            case .noStoredMessage:
                "recorded before this version kept messages: cannot be replayed from the store; its message is the value of its .dlq copy"
            }
        }
    }

    /// Replays dead letter `id` through `handler` in one transaction — the consume loop's path
    /// (inbox, change, outbox; ``apply(_:topic:trace:handler:in:)``) plus marking the dead letter
    /// replayed — so a replayed event is applied at most once: a second replay, or the event
    /// arriving again, changes nothing.
    /// - Throws: ``RepairError/unknownDeadLetters(_:)`` for an unknown id; a database or
    ///   handler error (other than ``EventRejected``) rolls everything back and is rethrown.
    public func replayDeadLetter(_ id: Int64, handler: any EventHandler) async throws -> ReplayOutcome {
        let (outcome, reaction) = try await database.write { transaction -> (ReplayOutcome, Reaction?) in
            // Locked: two operators replaying the same dead letter at once replay it once.
            let lock = transaction.dialect == .postgres ? " FOR UPDATE" : ""
            guard
                let row = try transaction.fetchOne(
                    """
                    SELECT source_topic, message_key, value, headers, replayed_at, replay_outcome
                    FROM dead_letters WHERE id = ?\(lock)
                    """,
                    [id]
                )
            else { throw RepairError.unknownDeadLetters([id]) }
            if let at: String = try row["replayed_at"] {
                return (.alreadyReplayed(at: at, outcome: try row["replay_outcome"] ?? ""), nil)
            }
            guard let value: [UInt8] = try row["value"], let headerColumn: String = try row["headers"] else {
                return (.noStoredMessage, nil)
            }
            let topic: String = try row["source_topic"]
            let envelope: EventEnvelope
            do throws(EventDecodingError) {
                envelope = try EventCodec.decode(value)
            } catch {
                return (.stillRejected(error.description), nil)
            }
            let headers = try StoredHeader.decode(headerColumn)
            let trace = headers.first { $0.name == EventHeader.traceparent }?.stringValue
                .flatMap(TraceContext.init(traceparent:))
            let reaction: Reaction?
            do {
                reaction = try self.apply(envelope, topic: topic, trace: trace, handler: handler, in: transaction)
            } catch let rejected as EventRejected {
                return (.stillRejected("rejected \(envelope.type.rawValue): \(rejected.reason)"), nil)
            }
            let outcome =
                reaction.map { ReplayOutcome.applied(events: $0.events.count, summary: $0.summary) }
                ?? .alreadyProcessed
            try transaction.execute(
                "UPDATE dead_letters SET replayed_at = ?, replay_outcome = ? WHERE id = ?",
                [Timestamp.format(Date()), outcome.description, id]
            )
            return (outcome, reaction)
        }
        reaction?.onCommit?()
        return outcome
    }

    /// Checks that every id names a dead letter, before anything is replayed.
    /// - Throws: ``RepairError/unknownDeadLetters(_:)`` naming the ids that do not.
    public func deadLetters(_ ids: [Int64]?) async throws -> [DeadLetterRecord] {
        try Self.choose(ids, from: try await deadLetters(), id: \.id, unknown: RepairError.unknownDeadLetters)
    }
}

/// An operator's request that names rows that are not there; nothing was changed.
public enum RepairError: Error, Sendable, Hashable, CustomStringConvertible {
    /// These ids are not outbox rows that were set aside.
    case notSetAside([Int64])
    /// These ids are not dead letters.
    case unknownDeadLetters([Int64])

    /// Which ids, and where to find the right ones.
    public var description: String {
        switch self {
        case .notSetAside(let ids):
            "no set-aside outbox row with id \(ids.map(String.init).joined(separator: ", ")) (`outbox list` shows them); nothing changed"
        case .unknownDeadLetters(let ids):
            "no dead letter with id \(ids.map(String.init).joined(separator: ", ")) (`dead-letters list` shows them); nothing changed"
        }
    }
}
