import Foundation
import Kafka
import OrderEvents
import Storage

// The outbox side of the store, as read and maintained by ``OutboxRelay``, and the pruning that
// keeps the outbox and the inbox bounded.
extension EventStore {
    /// How long a sent outbox row is kept: long enough to look at what was just published, short
    /// enough that the table stays small under sustained load (rows are only needed until sent).
    public static let defaultOutboxRetention: Duration = .seconds(10 * 60)

    /// How long an inbox entry (a processed event id) is kept: 7 days, Apache Kafka's default
    /// log retention (`log.retention.hours=168`).
    ///
    /// The inbox is what makes a redelivery harmless, so it must remember an id for as long as
    /// the event can be delivered again. A message can be re-read for as long as the log keeps
    /// it: a consumer that was down re-reads from its last committed offset, a reset group or a
    /// new replica re-reads from the start, and a producer's retry or an outbox re-publish after
    /// a crash lands within seconds. The longest of these is the log's retention, so the inbox
    /// keeps ids at least that long. A cluster with a longer `retention.ms` on the consumed
    /// topics needs a longer inbox retention.
    public static let defaultInboxRetention: Duration = .seconds(7 * 24 * 3600)

    /// Rows deleted per pruning statement: each statement holds the write lock only briefly, so
    /// handlers and the relay are never stalled behind a large delete.
    public static let pruneChunk = 5_000

    /// The condition, on a row of `outbox`, that no earlier row of its topic and key is set
    /// aside: a set-aside row holds back the later rows of its key until an operator requeues or
    /// discards it. One probe of the (nearly always empty) index `outbox_set_aside` per row.
    /// SQLite is told the index: its planner cannot see that the partial index fits.
    static func notHeldBySetAside(_ dialect: SQLDialect) -> String {
        """
        NOT EXISTS (
            SELECT 1 FROM outbox AS f \(dialect == .sqlite ? "INDEXED BY outbox_set_aside" : "")
            WHERE f.failed_at IS NOT NULL AND f.topic = outbox.topic
              AND \(dialect.same("f.message_key", "outbox.message_key")) AND f.id < outbox.id
        )
        """
    }

    /// Unsent outbox rows in insertion order; rows set aside as failed, and the later rows of
    /// their keys, excluded.
    public func unsent(limit: Int) async throws -> [OutboxRecord] {
        try await unsent(after: .start, limit: limit)
    }

    /// Unsent outbox rows after `cursor`, in ``OutboxPosition`` order; rows set aside, and the
    /// later rows of their keys, excluded. On PostgreSQL only rows whose transaction ended before
    /// the oldest one still running (see ``OutboxPosition``): a row is never returned after one
    /// that comes later in that order. Reads through the partial index of unsent rows: the cost
    /// grows with the rows returned, not with the table.
    public func unsent(after cursor: OutboxPosition, limit: Int) async throws -> [OutboxRecord] {
        try await database.read { transaction in
            switch transaction.dialect {
            case .sqlite:
                return try transaction.fetchAll(
                    """
                    SELECT id, 0 AS txid, topic, message_key, value, headers FROM outbox
                    WHERE id > ? AND sent_at IS NULL AND failed_at IS NULL AND \(Self.notHeldBySetAside(.sqlite))
                    ORDER BY id LIMIT ?
                    """,
                    [cursor.id, limit]
                ).map(Self.record)
            case .postgres:
                return try transaction.fetchAll(
                    """
                    SELECT id, txid, topic, message_key, value, headers FROM outbox
                    WHERE (txid, id) > (?, ?) AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
                      AND sent_at IS NULL AND failed_at IS NULL AND \(Self.notHeldBySetAside(.postgres))
                    ORDER BY txid, id LIMIT ?
                    """,
                    [cursor.transaction, cursor.id, limit]
                ).map(Self.record)
            }
        }
    }

    /// Unsent rows of one topic and key within `positions`, in ``OutboxPosition`` order: the rows
    /// the relay re-sends after a transient failure of that key (none after a set-aside row).
    /// Walks the unsent rows in that range (the backlog), never the sent ones.
    public func unsent(
        topic: String,
        key: [UInt8]?,
        positions: ClosedRange<OutboxPosition>,
        limit: Int
    ) async throws -> [OutboxRecord] {
        try await database.read { transaction in
            let (from, to) = (positions.lowerBound, positions.upperBound)
            let (range, order, txid): (String, String, String)
            var arguments: [SQLValue]
            switch transaction.dialect {
            case .sqlite:
                (range, order, txid) = ("id BETWEEN ? AND ?", "id", "0 AS txid")
                arguments = [.integer(from.id), .integer(to.id)]
            case .postgres:
                (range, order, txid) = ("(txid, id) >= (?, ?) AND (txid, id) <= (?, ?)", "txid, id", "txid")
                arguments = [.integer(from.transaction), .integer(from.id), .integer(to.transaction), .integer(to.id)]
            }
            // A null key is bound as no parameter: PostgreSQL cannot type a null placeholder alone.
            let sameKey = key == nil ? "message_key IS NULL" : "message_key = ?"
            arguments.append(.text(topic))
            if let key { arguments.append(.blob(key)) }
            arguments.append(.integer(Int64(limit)))
            return try transaction.fetchAll(
                """
                SELECT id, \(txid), topic, message_key, value, headers FROM outbox
                WHERE \(range) AND sent_at IS NULL AND failed_at IS NULL
                  AND topic = ? AND \(sameKey) AND \(Self.notHeldBySetAside(transaction.dialect))
                ORDER BY \(order) LIMIT ?
                """,
                SQLArguments(arguments)
            ).map(Self.record)
        }
    }

    private static func record(_ row: SQLRow) throws -> OutboxRecord {
        OutboxRecord(
            position: OutboxPosition(transaction: try row["txid"], id: try row["id"]),
            message: OutgoingMessage(
                topic: try row["topic"],
                key: try row["message_key"],
                value: try row["value"],
                headers: try StoredHeader.decode(try row["headers"])
            )
        )
    }

    /// Marks rows published, in one transaction. Deletes nothing: old sent rows go by
    /// ``pruneOutbox(sentBefore:limit:)``.
    ///
    /// Durability: this commit alone is not synced to disk (``Durability/relaxed``: SQLite's
    /// `synchronous = NORMAL`, PostgreSQL's `synchronous_commit = off`, for its transaction). A mark lost in a power cut only means the row is published again, which the
    /// consumers' inboxes absorb; and the next commit that is synced (every event's and order's)
    /// makes the marks before it durable too. This saves one fsync per published batch.
    public func markSent(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await database.write(durability: .relaxed) { transaction in
            let now = Timestamp.format(Date())
            // Well below either backend's bound on statement parameters.
            for start in stride(from: 0, to: ids.count, by: 1_000) {
                let chunk = ids[start..<min(start + 1_000, ids.count)]
                try transaction.execute(
                    "UPDATE outbox SET sent_at = ? WHERE id IN (\(SQLArguments.placeholders(chunk.count)))",
                    SQLArguments([.text(now)] + chunk.map { .integer($0) })
                )
            }
        }
    }

    /// The number of outbox rows not yet published (rows set aside as failed excluded; the rows
    /// they hold back included). Counts through the partial index of unsent rows, so it costs
    /// the backlog, not the table.
    public func pendingCount() async throws -> Int {
        try await database.read { transaction in
            try transaction.fetchValue(
                Int.self,
                "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"
            )
                ?? 0
        }
    }

    /// Sets a row aside that Kafka will never accept; it stays in the table with its error, and
    /// the later rows of its topic and key are held back until it is requeued or discarded
    /// (``requeueSetAside(_:)``, ``discardSetAside(_:)``).
    public func markFailed(_ id: Int64, error: String) async throws {
        try await database.write { transaction in
            try transaction.execute(
                "UPDATE outbox SET failed_at = ?, error = ? WHERE id = ?",
                [Timestamp.format(Date()), error, id]
            )
        }
    }

    /// The number of rows set aside as failed.
    public func failedCount() async throws -> Int {
        try await database.read { transaction in
            try transaction.fetchValue(Int.self, "SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL") ?? 0
        }
    }

    /// Deletes at most `limit` outbox rows sent before `cutoff`, oldest first, found through the
    /// index on `sent_at` (no scan). Unsent and failed rows are never deleted.
    /// - Returns: how many rows were deleted; `limit` means more may be left.
    @discardableResult
    public func pruneOutbox(sentBefore cutoff: Date, limit: Int = EventStore.pruneChunk) async throws -> Int {
        try await deleteChunk(
            """
            DELETE FROM outbox WHERE id IN (
                SELECT id FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ? ORDER BY sent_at LIMIT ?
            )
            """,
            before: cutoff,
            limit: limit
        )
    }

    /// Deletes at most `limit` inbox entries processed before `cutoff`, oldest first, found
    /// through the index on `processed_at` (no scan). Call it with a cutoff older than the longest
    /// redelivery window (see ``defaultInboxRetention``): an event redelivered after its entry is
    /// gone would be applied again.
    /// - Returns: how many entries were deleted; `limit` means more may be left.
    @discardableResult
    public func pruneInbox(processedBefore cutoff: Date, limit: Int = EventStore.pruneChunk) async throws -> Int {
        try await deleteChunk(
            """
            DELETE FROM inbox WHERE event_id IN (
                SELECT event_id FROM inbox WHERE processed_at < ? ORDER BY processed_at LIMIT ?
            )
            """,
            before: cutoff,
            limit: limit
        )
    }

    /// Runs one pruning `DELETE` whose arguments are a cutoff time and a row limit.
    private func deleteChunk(_ sql: String, before cutoff: Date, limit: Int) async throws -> Int {
        try await database.write { transaction in
            try transaction.execute(sql, [Timestamp.format(cutoff), limit])
        }
    }
}
