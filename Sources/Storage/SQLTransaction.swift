/// The SQL a backend speaks where the two differ. Statements common to both are written once
/// with `?` placeholders; the few that differ (DDL, upsert of a tie-break, SQLite's pragmas)
/// switch on this.
public enum SQLDialect: String, Sendable, Hashable, CaseIterable {
    case sqlite
    case postgres

    /// The condition that expressions `a` and `b` are equal or both null. SQLite's `a IS b` uses
    /// an index; PostgreSQL's `IS NOT DISTINCT FROM` does not, so there it is spelled out.
    public func same(_ a: String, _ b: String) -> String {
        switch self {
        case .sqlite: "\(a) IS \(b)"
        case .postgres: "(\(a) = \(b) OR (\(a) IS NULL AND \(b) IS NULL))"
        }
    }
}

/// One open transaction of an ``SQLDatabase``: statements run in order, and either all of them
/// commit or none does.
///
/// - Statements use `?` placeholders, bound in order from ``SQLArguments``.
/// - Synchronous: a transaction runs on a thread of its backend (GRDB's writer queue for
///   SQLite, a connection's thread for PostgreSQL) and must not wait for anything but the
///   database, which keeps transactions short and the handlers the same on both backends.
/// - Not `Sendable`: use it only inside the closure it was given to.
/// - Errors are the backend's own (GRDB's `DatabaseError`, PostgresNIO's `PSQLError`); read
///   them through ``StoreFailure``.
public protocol SQLTransaction: AnyObject {
    /// The backend's dialect.
    var dialect: SQLDialect { get }

    /// Runs a statement that returns no rows.
    /// - Returns: the number of rows it inserted, updated or deleted.
    @discardableResult
    func execute(_ sql: String, _ arguments: SQLArguments) throws -> Int

    /// Runs a statement whose outcome the caller does not read (no rows, no count). A backend
    /// may send it without waiting for its answer (PostgreSQL sends it with the next one), so a
    /// failure may surface later: the next statement that waits, or the commit, throws it, the
    /// whole transaction is then lost (``isIntact(after:)`` is false and nothing of it commits),
    /// and no enclosing savepoint can keep the rest. Use ``execute(_:_:)`` for a statement whose
    /// failure a savepoint is meant to absorb.
    func send(_ sql: String, _ arguments: SQLArguments) throws

    /// Runs a query and returns all its rows.
    func fetchAll(_ sql: String, _ arguments: SQLArguments) throws -> [SQLRow]

    /// Runs `body` in a savepoint: when it throws, what it changed is rolled back and the error
    /// rethrown, while the enclosing transaction goes on.
    @discardableResult
    func savepoint<T>(_ body: () throws -> T) throws -> T

    /// True when the transaction is still open and holds everything done before the savepoint
    /// that `error` came out of: the caller may go on and commit the rest. False when the
    /// backend ended or may have ended the whole transaction (SQLite rolls it back on
    /// `SQLITE_FULL`, `SQLITE_IOERR`, `SQLITE_BUSY`, …; a lost PostgreSQL connection).
    func isIntact(after error: any Error) -> Bool
}

extension SQLTransaction {
    /// Runs the statement at once and waits for it: the default for a backend with no cheaper way.
    public func send(_ sql: String, _ arguments: SQLArguments) throws {
        try execute(sql, arguments)
    }

    /// Runs a statement without arguments.
    @discardableResult
    public func execute(_ sql: String) throws -> Int {
        try execute(sql, [])
    }

    /// The first row of a query, nil when it returns none.
    public func fetchOne(_ sql: String, _ arguments: SQLArguments = []) throws -> SQLRow? {
        try fetchAll(sql, arguments).first
    }

    /// The first column of a query's first row, nil when it returns no row or null.
    public func fetchValue<T: SQLValueConvertible>(
        _ type: T.Type = T.self,
        _ sql: String,
        _ arguments: SQLArguments = []
    ) throws -> T? {
        guard let row = try fetchOne(sql, arguments), !row.values.isEmpty else { return nil }
        let value: T? = try row[0]
        return value
    }
}
