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
