/// A service's database, SQLite or PostgreSQL, behind one interface: the store code and the
/// services' handlers are written once against it.
///
/// Thread-safety: every method may be called from any task. Writes of one SQLite database are
/// serialised (one writer); PostgreSQL runs several at once (one per connection), isolated by
/// the server (read committed, so a writer that needs a row to itself locks it).
public protocol SQLDatabase: Sendable {
    /// The backend's dialect.
    var dialect: SQLDialect { get }

    /// Where the database is, for logs and messages: a file path, or a PostgreSQL URL without
    /// its password.
    var location: String { get }

    /// Runs `body` in one write transaction and commits it; rolls it back when `body` throws.
    /// - Parameter durability: ``Durability/relaxed`` lets this one commit return before it is
    ///   on disk (for writes that are safe to lose in a power cut).
    @discardableResult
    func write<T: Sendable>(
        durability: Durability,
        _ body: @escaping @Sendable (any SQLTransaction) throws -> T
    ) async throws -> T

    /// Runs `body` in a read-only transaction that sees one consistent snapshot.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws -> T

    /// Applies the migrations not yet applied, in order; applied ones are recorded by name, so
    /// running it again changes nothing.
    func migrate(_ migrations: [Migration]) async throws

    /// Closes the connections; later calls fail. Idempotent.
    func close() async

    /// Runs `body` while this process holds the database's lock `name`, which at most one
    /// process using the database holds at a time (one instance of a service among several).
    ///
    /// - Waits for the lock: after each attempt that finds it held, calls `retry`, which waits
    ///   as long as it likes and returns false to give up (then nil is returned, `body` not run).
    /// - The lock is released when `body` returns or throws, and when the process dies (its
    ///   file lock, or its PostgreSQL session, ends with it), so a waiting process takes over.
    /// - When the lock may be lost while `body` runs (the PostgreSQL connection holding it
    ///   broke), `body` is cancelled and ``LockLost`` thrown: another process may hold it now.
    func whileHolding<T: Sendable>(
        lock name: String,
        retry: @escaping @Sendable () async -> Bool,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T?
}

/// The connection that held a ``SQLDatabase/whileHolding(lock:retry:_:)`` lock failed while its
/// holder ran; another process may hold the lock now.
public struct LockLost: Error, Sendable, CustomStringConvertible {
    /// The lock's name.
    public var lock: String
    /// What happened to the connection.
    public var cause: String
    public var description: String {
        "lost the database lock \(lock) (\(cause)); another instance may hold it now"
    }
}

extension SQLDatabase {
    /// Runs `body` in one durable write transaction (see ``write(durability:_:)``).
    @discardableResult
    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws -> T {
        try await write(durability: .durable, body)
    }

    /// True when the database answers a trivial query.
    public func isOpen() async -> Bool {
        (try? await read { try $0.fetchValue(Int.self, "SELECT 1") }) == 1
    }
}

/// Whether a commit must be on disk before it returns.
public enum Durability: Sendable, Hashable {
    /// On disk (SQLite `synchronous = FULL`; PostgreSQL `synchronous_commit` as configured,
    /// `on` by default): what every accepted order and handled event needs.
    case durable
    /// May be lost in a power cut, never torn (SQLite `synchronous = NORMAL` in WAL mode;
    /// PostgreSQL `synchronous_commit = off` for this transaction). The next durable commit
    /// makes it durable too.
    case relaxed
}
