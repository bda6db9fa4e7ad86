import Foundation
import GRDB

/// A SQLite database in WAL mode (GRDB's `DatabasePool`): concurrent reads, one writer.
///
/// Every commit is synced (`synchronous = FULL`) unless written with ``Durability/relaxed``.
/// Writes wait up to 5 s for another process's lock before failing with `SQLITE_BUSY`.
public final class SQLiteDatabase: SQLDatabase {
    public var dialect: SQLDialect { .sqlite }
    /// The database file's path.
    public let path: String
    public var location: String { path }
    /// The GRDB pool, for what only SQLite has (tests that inspect the file, backups).
    public let pool: DatabasePool

    /// Opens (creating when needed) the database file at `path`.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        // GRDB's default, userInitiated, asks Dispatch for threads at nice -2, which an
        // unprivileged service may not take (Dispatch then logs an error for each such thread).
        configuration.qos = .default
        configuration.prepareDatabase { db in
            // Durability over speed: an accepted order must survive a power cut.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
    }

    public func write<T: Sendable>(
        durability: Durability,
        _ body: @escaping @Sendable (any SQLTransaction) throws -> T
    ) async throws -> T {
        try await write(durability: durability) { (db: Database) in try body(SQLiteTransaction(db)) }
    }

    /// Runs `body` on GRDB's connection in one write transaction: for the code that still speaks
    /// GRDB (``SQLDatabase/write(durability:_:)`` is this, with a ``SQLTransaction``).
    /// - Parameter durability: ``Durability/relaxed`` commits with `synchronous = NORMAL` and sets
    ///   `FULL` back before the connection serves anyone else.
    public func write<T: Sendable>(
        durability: Durability,
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        guard durability == .relaxed else { return try await pool.write(body) }
        let path = self.path
        return try await pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            defer {
                // Every other commit on this connection must be synced: if that cannot be set
                // back (it never fails on a working connection), stop rather than go on
                // unsynced; the supervisor restarts the service with a new connection.
                do {
                    try db.execute(sql: "PRAGMA synchronous = FULL")
                } catch {
                    fatalError("cannot restore synchronous = FULL on \(path): \(error)")
                }
            }
            var result: T?
            try db.inTransaction {
                result = try body(db)
                return .commit
            }
            // inTransaction ran the body or threw.
            return result!
        }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws -> T {
        try await pool.read { db in try body(SQLiteTransaction(db)) }
    }

    /// An exclusive `flock` of `<path>-<name>.lock`, which the kernel releases when the process
    /// ends however it ends.
    public func whileHolding<T: Sendable>(
        lock name: String,
        retry: @escaping @Sendable () async -> Bool,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T? {
        let lockPath = "\(path)-\(name).lock"
        let descriptor = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw NSError(domain: NSPOSIXErrorDomain, code: Int(errno), userInfo: [NSFilePathErrorKey: lockPath])
        }
        defer { Glibc.close(descriptor) }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard await retry() else { return nil }
        }
        return try await body()
    }

    public func close() async {
        try? pool.close()
    }

    /// Applies the migrations not yet applied, in order, each in its own transaction. Applied
    /// ones are recorded by name in GRDB's `grdb_migrations` table (as databases written before
    /// this interface existed already record them).
    public func migrate(_ migrations: [Migration]) throws {
        var migrator = DatabaseMigrator()
        for migration in migrations {
            migrator.registerMigration(migration.name) { db in try migration.apply(SQLiteTransaction(db)) }
        }
        try migrator.migrate(pool)
    }
}

/// A transaction on one GRDB connection. Statements with arguments are compiled once per
/// connection and cached (they run for every event; compiling each time was a large share of a
/// service's CPU); a statement without arguments may hold several statements (DDL scripts).
final class SQLiteTransaction: SQLTransaction {
    private let db: Database

    init(_ db: Database) {
        self.db = db
    }

    var dialect: SQLDialect { .sqlite }

    func execute(_ sql: String, _ arguments: SQLArguments) throws -> Int {
        if arguments.values.isEmpty {
            try db.execute(sql: sql)
        } else {
            try db.cachedStatement(sql: sql).execute(arguments: Self.statementArguments(arguments))
        }
        return db.changesCount
    }

    func fetchAll(_ sql: String, _ arguments: SQLArguments) throws -> [SQLRow] {
        let statement = try db.cachedStatement(sql: sql)
        let columns = statement.columnNames
        return try Row.fetchAll(statement, arguments: Self.statementArguments(arguments)).map { row in
            SQLRow(columns: columns, values: row.databaseValues.map(Self.value))
        }
    }

    func savepoint<T>(_ body: () throws -> T) throws -> T {
        var result: T?
        try db.inSavepoint {
            result = try body()
            return .commit
        }
        // inSavepoint ran the body or threw.
        return result!
    }

    func isIntact(after error: any Error) -> Bool {
        guard db.isInsideTransaction else { return false }
        guard let error = error as? DatabaseError else { return true }
        return !Self.transactionEndingCodes.contains(error.resultCode)
    }

    /// Result codes after which SQLite may roll back the whole transaction, not just the failed
    /// statement (https://www.sqlite.org/lang_transaction.html, "Response To Errors Within A
    /// Transaction"), or after which it already did (`SQLITE_ABORT`) or cannot be trusted.
    static let transactionEndingCodes: [ResultCode] = [
        .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_NOMEM, .SQLITE_BUSY, .SQLITE_ABORT, .SQLITE_CORRUPT,
    ]

    private static func statementArguments(_ arguments: SQLArguments) -> StatementArguments {
        StatementArguments(arguments.values.map(databaseValue))
    }

    private static func databaseValue(_ value: SQLValue) -> DatabaseValue {
        switch value {
        case .null: .null
        case .integer(let integer): integer.databaseValue
        case .real(let real): real.databaseValue
        case .text(let text): text.databaseValue
        case .blob(let bytes): Data(bytes).databaseValue
        }
    }

    private static func value(_ value: DatabaseValue) -> SQLValue {
        switch value.storage {
        case .null: .null
        case .int64(let integer): .integer(integer)
        case .double(let real): .real(real)
        case .string(let text): .text(text)
        case .blob(let data): .blob(Array(data))
        }
    }
}
