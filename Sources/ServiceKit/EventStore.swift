import Foundation
import Kafka
import Logging
import OrderEvents
import Storage

/// A service's own database — a SQLite file (WAL) by default, or a schema of its own on a
/// PostgreSQL server — with the inbox and outbox that make event handling effectively-once.
///
/// - ``handle(_:topic:trace:body:)`` runs one local transaction that records the event id in the
///   inbox (a repeat is skipped), applies the service's change, and writes the outgoing events
///   to the outbox. Either all of it commits or none of it.
/// - The outbox is read by ``OutboxRelay``, which publishes rows in insertion order and marks
///   them sent.
/// - The same semantics on both backends: the statements are written once against
///   ``SQLTransaction``; the few that differ switch on its dialect.
/// - Thread-safety: all methods may be called from any task. SQLite serialises writes; on
///   PostgreSQL the inbox's primary key makes two transactions recording one event id apply it
///   once (the second waits for the first and skips it).
public final class EventStore: Sendable {
    /// The database: every read and write of the service's state goes through it.
    public let database: any SQLDatabase
    /// The topic names the store's outbox rows are published to.
    public let topics: Topics
    /// Where the database is, for messages: the file's path, or the PostgreSQL URL without its
    /// password and with the service's schema.
    public var location: String { database.location }
    /// The database's name: the service's name (the SQLite file `<name>.sqlite`, the PostgreSQL
    /// schema `<name>` with `-` as `_`).
    public let name: String
    /// `<path>.lock`, exclusively `flock`ed while a SQLite store is open; nil on PostgreSQL,
    /// whose instances share the database by design.
    private let lock: Int32?

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
    /// migrations followed by `migrations`, the service's own tables.
    /// - Throws: ``InUse`` while another process (or another open store) has the database; the
    ///   lock is released when the store is.
    public convenience init(
        directory: String,
        name: String,
        topics: Topics,
        migrations: [Migration] = []
    ) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("\(name).sqlite")
        // SQLite's own locks serialise writers but let any number of processes open the file.
        let lock = Glibc.open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard lock >= 0 else {
            throw NSError(domain: NSPOSIXErrorDomain, code: Int(errno), userInfo: [NSFilePathErrorKey: path + ".lock"])
        }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(lock)
            throw InUse(path: path)
        }
        let database: SQLiteDatabase
        do {
            database = try SQLiteDatabase(path: path)
        } catch {
            Glibc.close(lock)
            throw error
        }
        try await self.init(database: database, name: name, topics: topics, migrations: migrations, lock: lock)
    }

    /// Opens the service's schema (``schemaName(for:)``) on the PostgreSQL server at `url`,
    /// creating it when needed, and applies the platform's migrations followed by `migrations`.
    /// Any number of instances of the service may open it at once: migrations run once, under a
    /// lock, and the inbox keeps them from applying an event twice.
    public convenience init(
        url: DatabaseURL,
        name: String,
        topics: Topics,
        migrations: [Migration] = [],
        leaseTimeout: Duration = .seconds(10),
        logger: Logger
    ) async throws {
        let database = try PostgreSQLDatabase(
            url: url,
            schema: Self.schemaName(for: name),
            leaseTimeout: leaseTimeout,
            logger: logger
        )
        do {
            try await self.init(database: database, name: name, topics: topics, migrations: migrations, lock: nil)
        } catch {
            await database.close()
            throw error
        }
    }

    private init(
        database: any SQLDatabase,
        name: String,
        topics: Topics,
        migrations: [Migration],
        lock: Int32?
    ) async throws {
        self.database = database
        self.name = name
        self.topics = topics
        self.lock = lock
        try await database.migrate(Self.platformMigrations + migrations)
    }

    /// Opens the store `configuration` names: the service's schema on the PostgreSQL server of
    /// `DATABASE_URL` when it is set, otherwise `<DATA_DIR>/<SERVICE_NAME>.sqlite`.
    public static func open(
        _ configuration: ServiceConfiguration,
        migrations: [Migration],
        logger: Logger
    ) async throws -> EventStore {
        if let url = configuration.databaseURL {
            return try await EventStore(
                url: url,
                name: configuration.serviceName,
                topics: configuration.topics,
                migrations: migrations,
                logger: logger
            )
        }
        return try await EventStore(
            directory: configuration.dataDirectory,
            name: configuration.serviceName,
            topics: configuration.topics,
            migrations: migrations
        )
    }

    /// The PostgreSQL schema of service `name`: `order-service` → `order_service`.
    public static func schemaName(for name: String) -> String {
        String(name.lowercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
    }

    /// The platform's tables (inbox, outbox, dead letters), under the names SQLite databases in
    /// the field record them by.
    static let platformMigrations: [Migration] = [
        Migration(
            "platform-v1",
            sqlite: """
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
                """,
            // PostgreSQL starts at the platform's current schema: it has no databases from
            // before, so the later migrations have nothing to change there.
            postgres: """
                CREATE TABLE inbox (
                    event_id TEXT PRIMARY KEY NOT NULL,
                    topic TEXT NOT NULL,
                    processed_at TEXT NOT NULL
                );
                CREATE INDEX inbox_processed ON inbox(processed_at);
                CREATE TABLE outbox (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    topic TEXT NOT NULL,
                    message_key BYTEA,
                    value BYTEA NOT NULL,
                    headers TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    sent_at TEXT,
                    failed_at TEXT,
                    error TEXT,
                    txid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)
                );
                CREATE INDEX outbox_unsent ON outbox(txid, id) WHERE sent_at IS NULL AND failed_at IS NULL;
                CREATE INDEX outbox_sent ON outbox(sent_at) WHERE sent_at IS NOT NULL;
                CREATE INDEX outbox_set_aside ON outbox(topic, message_key, id) WHERE failed_at IS NOT NULL;
                CREATE TABLE dead_letters (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    source_topic TEXT NOT NULL,
                    source_partition INTEGER NOT NULL,
                    source_offset BIGINT NOT NULL,
                    error TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    message_key BYTEA,
                    value BYTEA,
                    headers TEXT,
                    replayed_at TEXT,
                    replay_outcome TEXT,
                    UNIQUE (source_topic, source_partition, source_offset)
                );
                """
        ),
        Migration(
            "platform-v2-outbox-failures",
            // A row Kafka will never accept (too large, not authorized) is set aside with its
            // error instead of blocking every row behind it.
            sqlite: """
                ALTER TABLE outbox ADD COLUMN failed_at TEXT;
                ALTER TABLE outbox ADD COLUMN error TEXT;
                DROP INDEX outbox_unsent;
                CREATE INDEX outbox_unsent ON outbox(id) WHERE sent_at IS NULL AND failed_at IS NULL;
                """,
            postgres: ""
        ),
        Migration(
            "platform-v3-pruning",
            sqlite: """
                CREATE INDEX outbox_sent ON outbox(sent_at) WHERE sent_at IS NOT NULL;
                CREATE INDEX inbox_processed ON inbox(processed_at);
                """,
            postgres: ""
        ),
        Migration("platform-v4-repair") { transaction in
            guard transaction.dialect == .sqlite else { return }
            try migrateForRepair(transaction)
        },
    ]

    deinit {
        // Another process may open the database from here on.
        if let lock { Glibc.close(lock) }
    }

    /// Closes the database's connections; later calls fail. The SQLite file's lock is released
    /// when the store is.
    public func close() async {
        await database.close()
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
        body: @escaping @Sendable (any SQLTransaction) throws -> [EventEnvelope]
    ) async throws -> (Outcome, [EventEnvelope]) {
        try await database.write { transaction in
            guard try self.recordInInbox(event, topic: topic, in: transaction) else { return (.duplicate, []) }
            let outgoing = try body(transaction)
            try self.enqueue(outgoing, trace: trace, in: transaction)
            return (.processed, outgoing)
        }
    }

    /// Records `event` as processed inside the caller's transaction.
    /// - Returns: false when its id was already in the inbox: the event is a repeat and must
    ///   change nothing.
    public func recordInInbox(_ event: EventEnvelope, topic: String, in transaction: any SQLTransaction) throws -> Bool
    {
        try transaction.execute(
            "INSERT INTO inbox (event_id, topic, processed_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [event.eventId.uuidString, topic, Timestamp.format(Date())]
        ) == 1
    }

    /// Writes events to the outbox inside the caller's transaction. Each gets the event-type and
    /// traceparent headers; the key is the order id.
    public func enqueue(_ events: [EventEnvelope], trace: TraceContext?, in transaction: any SQLTransaction) throws {
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
                in: transaction
            )
        }
    }

    /// Records a poison message and queues its dead-letter copy inside the caller's
    /// transaction, once per source position (topic, partition, offset).
    /// - Returns: false when this position was already dead-lettered.
    /// The message itself (key, value, headers) is stored with the record, so that an operator
    /// can replay it after a fix (``replayDeadLetter(_:handler:)``).
    public func deadLetter(
        _ message: KafkaMessage,
        error: String,
        service: String,
        in transaction: any SQLTransaction
    ) throws -> Bool {
        let failedAt = Timestamp.format(Date())
        let inserted = try transaction.execute(
            """
            INSERT INTO dead_letters
                (source_topic, source_partition, source_offset, error, created_at, message_key, value, headers)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """,
            [
                message.topic, message.partition, message.offset, error, failedAt, message.key, message.value,
                try StoredHeader.encode(message.headers),
            ]
        )
        guard inserted == 1 else { return false }
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
            in: transaction
        )
        return true
    }

    private func insertOutbox(
        topic: String,
        key: [UInt8]?,
        value: [UInt8],
        headers: [KafkaHeader],
        in transaction: any SQLTransaction
    ) throws {
        try transaction.send(
            "INSERT INTO outbox (topic, message_key, value, headers, created_at) VALUES (?, ?, ?, ?, ?)",
            [topic, key, value, try StoredHeader.encode(headers), Timestamp.format(Date())]
        )
    }

    /// True when the database answers a trivial query.
    public func isOpen() async -> Bool {
        await database.isOpen()
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
    /// The row id.
    public var id: Int64
    /// Where the row stands in the order rows are published in.
    public var position: OutboxPosition
    /// What to publish.
    public var message: OutgoingMessage

    /// A row at `position`.
    public init(position: OutboxPosition, message: OutgoingMessage) {
        self.id = position.id
        self.position = position
        self.message = message
    }
}

/// Where an outbox row stands in the order the relay reads rows in: by ``transaction``, then by
/// ``id``.
///
/// Why not by id alone: on SQLite one writer commits at a time, so ids are committed in order
/// and a reader that has seen id n will never see a new row below it (``transaction`` is 0).
/// On PostgreSQL several transactions write at once and an id is taken at insert, not at
/// commit: a row with a lower id can commit after a higher one was read, and a reader moving
/// by id would skip it. There ``transaction`` is the id of the writing transaction, and the
/// store returns only rows whose transaction ended before the oldest one still running
/// (`pg_snapshot_xmin`): every row that becomes visible later has a transaction id at or above
/// that, so reading in (transaction, id) order never skips one. Rows of one topic and key are
/// written in causal order (each event is a reaction to the one before it), so that order
/// keeps one order's events in the order they were written.
public struct OutboxPosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The writing transaction's id on PostgreSQL; 0 on SQLite.
    public var transaction: Int64
    /// The row id.
    public var id: Int64

    public init(transaction: Int64, id: Int64) {
        self.transaction = transaction
        self.id = id
    }

    /// Before every row.
    public static let start = OutboxPosition(transaction: 0, id: 0)

    /// The position just before this one: reading after it reads this row again.
    public var predecessor: OutboxPosition { OutboxPosition(transaction: transaction, id: id - 1) }
    /// The position just after this one.
    public var successor: OutboxPosition { OutboxPosition(transaction: transaction, id: id + 1) }

    public static func < (lhs: OutboxPosition, rhs: OutboxPosition) -> Bool {
        (lhs.transaction, lhs.id) < (rhs.transaction, rhs.id)
    }

    public var description: String { transaction == 0 ? "\(id)" : "\(transaction):\(id)" }
}
