import Foundation
import GRDB
import Kafka
import OrderEvents
import Storage

/// A service's own SQLite database (WAL) with the inbox and outbox that make event handling
/// effectively-once.
///
/// - ``handle(_:trace:body:)`` runs one local transaction that records the event id in the
///   inbox (a repeat is skipped), applies the service's change, and writes the outgoing events
///   to the outbox. Either all of it commits or none of it.
/// - The outbox is read by ``OutboxRelay``, which publishes rows in insertion order and marks
///   them sent.
/// - Thread-safety: all methods may be called from any task; GRDB serialises writes.
public final class EventStore: Sendable {
    /// The WAL database pool: concurrent reads, serialised writes.
    public let database: DatabasePool
    /// The topic names the store's outbox rows are published to.
    public let topics: Topics
    /// The database file's path.
    public let path: String
    /// The database's name (`<name>.sqlite`): the service's name.
    public let name: String
    /// The database with the platform's settings (WAL, synced commits, busy timeout).
    let sqlite: SQLiteDatabase
    /// `<path>.lock`, exclusively `flock`ed while the store is open.
    private let lock: Int32

    /// Another process has the store open: two would handle the same events twice (a second
    /// charge after a rebalance), so the second refuses to start.
    public struct InUse: Error, Sendable, Hashable, CustomStringConvertible {
        /// The database file's path.
        public var path: String

        /// Names the database and what to do.
        public var description: String {
            "\(path) is open in another process (its lock \(path).lock is held): one process per data"
                + " directory; stop the other one, or give this one its own DATA_DIR"
        }
    }

    /// Opens (creating when needed) `<directory>/<name>.sqlite` and applies the platform's
    /// migrations followed by `migrations`, which the service uses for its own tables.
    /// - Throws: ``InUse`` while another process (or another open store) has the database; the
    ///   lock is released when the store is.
    public init(
        directory: String,
        name: String,
        topics: Topics,
        migrations: (inout DatabaseMigrator) -> Void = { _ in }
    ) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent("\(name).sqlite")
        self.name = name
        // SQLite's own locks serialise writers but let any number of processes open the file.
        lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard lock >= 0 else {
            throw NSError(domain: NSPOSIXErrorDomain, code: Int(errno), userInfo: [NSFilePathErrorKey: path + ".lock"])
        }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            close(lock)
            throw InUse(path: path)
        }
        do {
            sqlite = try SQLiteDatabase(path: path)
        } catch {
            close(lock)
            throw error
        }
        database = sqlite.pool
        self.topics = topics
        var migrator = DatabaseMigrator()
        migrator.registerMigration("platform-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE inbox (
                        event_id TEXT PRIMARY KEY NOT NULL,
                        topic TEXT NOT NULL,
                        processed_at TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE outbox (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        topic TEXT NOT NULL,
                        message_key BLOB,
                        value BLOB NOT NULL,
                        headers TEXT NOT NULL,
                        created_at TEXT NOT NULL,
                        sent_at TEXT
                    );
                    CREATE INDEX outbox_unsent ON outbox(id) WHERE sent_at IS NULL;
                    CREATE TABLE dead_letters (
                        source_topic TEXT NOT NULL,
                        source_partition INTEGER NOT NULL,
                        source_offset INTEGER NOT NULL,
                        error TEXT NOT NULL,
                        created_at TEXT NOT NULL,
                        PRIMARY KEY (source_topic, source_partition, source_offset)
                    ) WITHOUT ROWID;
                    """
            )
        }
        migrator.registerMigration("platform-v2-outbox-failures") { db in
            // A row Kafka will never accept (too large, not authorized) is set aside with its
            // error instead of blocking every row behind it.
            try db.execute(
                sql: """
                    ALTER TABLE outbox ADD COLUMN failed_at TEXT;
                    ALTER TABLE outbox ADD COLUMN error TEXT;
                    DROP INDEX outbox_unsent;
                    CREATE INDEX outbox_unsent ON outbox(id) WHERE sent_at IS NULL AND failed_at IS NULL;
                    """
            )
        }
        migrator.registerMigration("platform-v3-pruning", migrate: Self.migratePruningIndexes)
        migrator.registerMigration("platform-v4-repair", migrate: Self.migrateForRepair)
        migrations(&migrator)
        try migrator.migrate(database)
    }

    deinit {
        // Another process may open the database from here on.
        close(lock)
    }

    /// What became of one handled event.
    public enum Outcome: String, Sendable {
        /// The change was applied and its events written to the outbox.
        case processed
        /// The event id was already in the inbox; nothing changed.
        case duplicate
    }

    /// Handles one event in one transaction: inbox check, `body`, outbox insert.
    /// - Parameters:
    ///   - trace: the incoming trace context; outgoing events continue it.
    ///   - body: applies the change and returns the events to publish. Throwing rolls back.
    public func handle(
        _ event: EventEnvelope,
        topic: String,
        trace: TraceContext?,
        body: @escaping @Sendable (Database) throws -> [EventEnvelope]
    ) async throws -> (Outcome, [EventEnvelope]) {
        try await database.write { db in
            guard try self.recordInInbox(event, topic: topic, in: db) else { return (.duplicate, []) }
            let outgoing = try body(db)
            try self.enqueue(outgoing, trace: trace, in: db)
            return (.processed, outgoing)
        }
    }

    /// Records `event` as processed inside the caller's transaction.
    /// - Returns: false when its id was already in the inbox: the event is a repeat and must
    ///   change nothing.
    public func recordInInbox(_ event: EventEnvelope, topic: String, in db: Database) throws -> Bool {
        // Cached statements here and below: they run for every event, and compiling the SQL each
        // time was a large share of a service's CPU.
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO inbox (event_id, topic, processed_at) VALUES (?, ?, ?)")
            .execute(arguments: [event.eventId.uuidString, topic, Timestamp.format(Date())])
        return db.changesCount == 1
    }

    /// Writes events to the outbox inside the caller's transaction. Each gets the event-type and
    /// traceparent headers; the key is the order id.
    public func enqueue(_ events: [EventEnvelope], trace: TraceContext?, in db: Database) throws {
        for event in events {
            let span = trace?.child() ?? TraceContext.root()
            let headers = [
                KafkaHeader(name: EventHeader.eventType, string: event.type.rawValue),
                KafkaHeader(name: EventHeader.traceparent, string: span.description),
            ]
            try insertOutbox(
                topic: topics.topic(for: event.type),
                key: Array(event.key.utf8),
                value: try EventCodec.encode(event),
                headers: headers,
                in: db
            )
        }
    }

    /// Records a poison message and queues its dead-letter copy inside the caller's
    /// transaction, once per source position (topic, partition, offset).
    /// - Returns: false when this position was already dead-lettered.
    /// The message itself (key, value, headers) is stored with the record, so that an operator
    /// can replay it after a fix (``replayDeadLetter(_:handler:)``).
    public func deadLetter(_ message: KafkaMessage, error: String, service: String, in db: Database) throws -> Bool {
        let failedAt = Timestamp.format(Date())
        try db.execute(
            sql: """
                INSERT OR IGNORE INTO dead_letters
                    (source_topic, source_partition, source_offset, error, created_at, message_key, value, headers)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                message.topic, message.partition, message.offset, error, failedAt, message.key.map { Data($0) },
                Data(message.value), try StoredHeader.encode(message.headers),
            ]
        )
        guard db.changesCount == 1 else { return false }
        let headers =
            message.headers + [
                KafkaHeader(name: "dlq-source-topic", string: message.topic),
                KafkaHeader(name: "dlq-source-partition", string: String(message.partition)),
                KafkaHeader(name: "dlq-source-offset", string: String(message.offset)),
                KafkaHeader(name: "dlq-error", string: error),
                KafkaHeader(name: "dlq-service", string: service),
                KafkaHeader(name: "dlq-failed-at", string: failedAt),
            ]
        try insertOutbox(
            topic: Topics.deadLetter(of: message.topic),
            key: message.key,
            value: message.value,
            headers: headers,
            in: db
        )
        return true
    }

    private func insertOutbox(
        topic: String,
        key: [UInt8]?,
        value: [UInt8],
        headers: [KafkaHeader],
        in db: Database
    ) throws {
        try db.cachedStatement(
            sql: "INSERT INTO outbox (topic, message_key, value, headers, created_at) VALUES (?, ?, ?, ?, ?)"
        )
        .execute(arguments: [
            topic, key.map { Data($0) }, Data(value), try StoredHeader.encode(headers), Timestamp.format(Date()),
        ])
    }

    /// True when the database answers a trivial query.
    public func isOpen() async -> Bool {
        (try? await database.read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }
}

/// A Kafka header as stored in the outbox's `headers` column: a JSON array of these, `value` as
/// base64 (Foundation's `Data` encoding), so any bytes survive. The one definition of that stored
/// format, written by ``EventStore`` and read back by the relay's queries.
struct StoredHeader: Codable {
    var name: String
    var value: Data

    /// The `headers` column for `headers`.
    static func encode(_ headers: [KafkaHeader]) throws -> String {
        let stored = headers.map { StoredHeader(name: $0.name, value: Data($0.value)) }
        return String(decoding: try encoder.encode(stored), as: UTF8.self)
    }

    /// The headers stored in a `headers` column.
    static func decode(_ column: String) throws -> [KafkaHeader] {
        try decoder.decode([StoredHeader].self, from: Data(column.utf8)).map {
            KafkaHeader(name: $0.name, value: Array($0.value))
        }
    }

    // Configured once and never mutated: safe to share between connections.
    private static let encoder = JSONEncoder()
    private static let decoder = JSONDecoder()
}

/// One outbox row, ready to publish.
public struct OutboxRecord: Sendable, Hashable {
    /// The row id; rows are published in increasing id order.
    public var id: Int64
    /// What to publish.
    public var message: OutgoingMessage
}
