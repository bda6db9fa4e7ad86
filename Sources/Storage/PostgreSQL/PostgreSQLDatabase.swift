import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// A PostgreSQL database through PostgresNIO's connection pool, in a schema of its own.
///
/// - Each service has its schema (``schema``, from its name) on the connections' `search_path`:
///   services sharing one server share no table.
/// - Transactions are read committed (PostgreSQL's default): handlers that must not race with
///   another instance rely on unique keys and on statements that check and change in one step.
/// - ``SQLTransaction`` is synchronous so that handlers are one code for both backends: a
///   transaction runs on a thread of a pool of its own (one per connection) and waits there for
///   each statement's answer, never on an event loop or a Swift concurrency thread.
/// - A connection that cannot be had within its lease timeout (10 s by default: the server is
///   down or refuses us) fails the call with ``Unavailable``.
public final class PostgreSQLDatabase: SQLDatabase {
    public var dialect: SQLDialect { .postgres }
    public let location: String
    /// The schema the tables are in.
    public let schema: String
    /// How long a call waits for a connection before failing.
    public let leaseTimeout: Duration

    private let client: PostgresClient
    private let threads: NIOThreadPool
    private let logger: Logger
    // Owned by this database: runs the pool until close() cancels it.
    private let running: Task<Void, Never>

    /// No connection could be had in time: the server is down, unreachable, or refuses us.
    public struct Unavailable: Error, Sendable, CustomStringConvertible {
        /// The database, without its password.
        public var location: String
        /// How long the call waited.
        public var waited: Duration
        public var description: String {
            "no connection to \(location) within \(waited): is the server up, and does it accept this user?"
        }
    }

    /// Connects lazily to `url`; tables go into `schema` (lower-case letters, digits and `_`).
    public init(
        url: DatabaseURL,
        schema: String,
        maximumConnections: Int = 6,
        leaseTimeout: Duration = .seconds(10),
        logger: Logger
    ) throws {
        precondition(
            !schema.isEmpty && schema.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") },
            "a schema name is lower-case letters, digits and _"
        )
        var configuration = PostgresClient.Configuration(
            host: url.host,
            port: url.port,
            username: url.user,
            password: url.password,
            database: url.database,
            tls: try Self.tls(url.tls)
        )
        configuration.options.maximumConnections = maximumConnections
        configuration.options.additionalStartupParameters = [("search_path", schema)]
        // PostgresNIO logs each failed connection attempt at info; the store's own errors (a
        // call without a connection in time) say what an operator needs once.
        var background = logger
        background.logLevel = max(logger.logLevel, .warning)
        client = PostgresClient(configuration: configuration, backgroundLogger: background)
        threads = NIOThreadPool(numberOfThreads: maximumConnections)
        threads.start()
        location = url.description
        self.leaseTimeout = leaseTimeout
        self.schema = schema
        self.logger = logger
        running = Task { [client] in await client.run() }
    }

    deinit {
        // A database released without close(): its connections and threads still end.
        running.cancel()
        threads.shutdownGracefully { _ in }
    }

    public func write<T: Sendable>(
        durability: Durability,
        _ body: @escaping @Sendable (any SQLTransaction) throws -> T
    ) async throws -> T {
        try await transaction(
            begin: durability == .relaxed ? ["BEGIN", "SET LOCAL synchronous_commit = off"] : ["BEGIN"],
            body
        )
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLTransaction) throws -> T) async throws -> T {
        try await transaction(begin: ["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"], body)
    }

    /// A session-level advisory lock (`pg_try_advisory_lock` of the schema and `name`) on a
    /// connection of its own, held while `body` runs. PostgreSQL releases it when the session
    /// ends: at once when the holder's process dies (its socket closes), and after the server's
    /// TCP keepalive gives up on a host that vanished. The connection is probed every
    /// ``lockProbeInterval``; when a probe fails, `body` is cancelled and ``LockLost`` thrown.
    public func whileHolding<T: Sendable>(
        lock name: String,
        retry: @escaping @Sendable () async -> Bool,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T? {
        let key = "\(schema):\(name)"
        let logger = self.logger
        while true {
            let outcome: LockOutcome<T> = try await withLease { connection in
                let acquired =
                    try await connection.query(
                        "SELECT pg_try_advisory_lock(hashtext(\(key)))",
                        logger: logger
                    ).collect().first?.decode(Bool.self) ?? false
                guard acquired else { return .held }
                do {
                    let result = try await Self.run(body, probing: connection, lock: name, logger: logger)
                    _ = try? await connection.query("SELECT pg_advisory_unlock(hashtext(\(key)))", logger: logger)
                    return .ran(result)
                } catch {
                    // A lost connection released the lock with its session; an unlock on a live
                    // one returns it before the connection goes back to the pool.
                    _ = try? await connection.query("SELECT pg_advisory_unlock(hashtext(\(key)))", logger: logger)
                    throw error
                }
            }
            switch outcome {
            case .ran(let result): return result
            case .held: guard await retry() else { return nil }
            }
        }
    }

    /// How often a held lock's connection is probed.
    public static let lockProbeInterval: Duration = .seconds(2)

    private static func run<T: Sendable>(
        _ body: @escaping @Sendable () async throws -> T,
        probing connection: PostgresConnection,
        lock name: String,
        logger: Logger
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                while true {
                    try await Task.sleep(for: lockProbeInterval)
                    do {
                        _ = try await connection.query("SELECT 1", logger: logger).collect()
                    } catch {
                        throw LockLost(
                            lock: name,
                            cause: PostgreSQLError(error).map(String.init(describing:)) ?? "\(error)"
                        )
                    }
                }
            }
            defer { group.cancelAll() }
            // The body's result, or the probe's error; the probe never returns otherwise.
            guard let first = try await group.next(), let result = first else { throw CancellationError() }
            return result
        }
    }

    public func close() async {
        running.cancel()
        await running.value
        try? await threads.shutdownGracefully()
    }

    /// Creates the schema when missing and applies the migrations not yet applied, in order, in
    /// one transaction that holds an advisory lock, so instances starting at once migrate once.
    public func migrate(_ migrations: [Migration]) async throws {
        let schema = self.schema
        try await write { transaction in
            try transaction.execute("SELECT pg_advisory_xact_lock(hashtext('order-platform-migrations'))")
            try transaction.execute("CREATE SCHEMA IF NOT EXISTS \(schema)")
            try transaction.execute(
                "CREATE TABLE IF NOT EXISTS \(schema).schema_migrations (identifier TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            let applied = Set(
                try transaction.fetchAll("SELECT identifier FROM \(schema).schema_migrations", []).map {
                    try $0["identifier"] as String
                }
            )
            let appliedAt = ISO8601DateFormatter().string(from: Date())
            for migration in migrations where !applied.contains(migration.name) {
                try migration.apply(transaction)
                try transaction.execute(
                    "INSERT INTO \(schema).schema_migrations (identifier, applied_at) VALUES (?, ?)",
                    [migration.name, appliedAt]
                )
            }
        }
    }

    private func transaction<T: Sendable>(
        begin: [String],
        _ body: @escaping @Sendable (any SQLTransaction) throws -> T
    ) async throws -> T {
        let threads = self.threads
        let logger = self.logger
        do {
            return try await withLease { connection in
                try await threads.runIfActive {
                    let transaction = PostgreSQLTransaction(connection: connection, logger: logger)
                    for statement in begin { transaction.deferred(statement) }
                    do {
                        let result = try body(transaction)
                        // PostgreSQL answers COMMIT in an aborted transaction with a rollback,
                        // not an error: a body that went on after a failure must not pass for
                        // committed.
                        if transaction.isAborted { throw PostgreSQLTransactionAborted() }
                        try transaction.execute("COMMIT")
                        return result
                    } catch {
                        // The original error says what happened; a failed rollback only means the
                        // connection is gone, which the pool replaces.
                        _ = try? transaction.execute("ROLLBACK")
                        throw error
                    }
                }
            }
        } catch {
            // Leasing fails with PostgresNIO's errors (connect, authenticate) before any statement.
            throw PostgreSQLError(error) ?? error
        }
    }

    private func withLease<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    )
        async throws -> T
    {
        let client = self.client
        let location = self.location
        let timeout = leaseTimeout
        // The deadline is for getting a connection, not for the work done with it.
        let leased = LeaseFlag()
        return try await withThrowingTaskGroup(of: LeaseOutcome<T>.self) { group in
            group.addTask {
                .finished(
                    try await client.withConnection { connection in
                        leased.value.withLock { $0 = true }
                        return try await body(connection)
                    }
                )
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return leased.value.withLock { $0 } ? .leasedInTime : .timedOut
            }
            defer { group.cancelAll() }
            while let outcome = try await group.next() {
                switch outcome {
                case .finished(let result): return result
                case .timedOut: throw Unavailable(location: location, waited: timeout)
                case .leasedInTime: continue
                }
            }
            throw CancellationError()
        }
    }

    private static func tls(_ mode: DatabaseURL.TLSMode) throws -> PostgresClient.Configuration.TLS {
        switch tlsConfiguration(mode) {
        case nil: .disable
        case (let configuration, required: false)?: .prefer(configuration)
        case (let configuration, required: true)?: .require(configuration)
        }
    }

    /// The TLS of a single connection (``PostgreSQLServer``'s), as the pool's.
    static func connectionTLS(_ mode: DatabaseURL.TLSMode) throws -> PostgresConnection.Configuration.TLS {
        switch tlsConfiguration(mode) {
        case nil: .disable
        case (let configuration, required: false)?: .prefer(try NIOSSLContext(configuration: configuration))
        case (let configuration, required: true)?: .require(try NIOSSLContext(configuration: configuration))
        }
    }

    /// libpq's `sslmode`s: `prefer` and `require` encrypt without verifying the server,
    /// `verify-ca` checks its certificate's chain, `verify-full` also its name; nil for `disable`.
    private static func tlsConfiguration(_ mode: DatabaseURL.TLSMode) -> (TLSConfiguration, required: Bool)? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case .disable: return nil
        case .prefer:
            configuration.certificateVerification = .none
            return (configuration, false)
        case .require:
            configuration.certificateVerification = .none
            return (configuration, true)
        case .verifyCA:
            configuration.certificateVerification = .noHostnameVerification
            return (configuration, true)
        case .verifyFull:
            return (configuration, true)
        }
    }
}

/// A transaction's body went on after a statement failed outside every savepoint; PostgreSQL
/// had already refused the rest of the transaction, so it was rolled back and nothing of it is
/// stored. Whatever caught that statement's error should have rethrown it.
public struct PostgreSQLTransactionAborted: Error, Sendable, CustomStringConvertible {
    public init() {}
    public var description: String {
        "the transaction was rolled back: a statement in it failed and the code went on without rethrowing that error"
    }
}

private enum LockOutcome<T: Sendable>: Sendable {
    case ran(T)
    case held
}

private enum LeaseOutcome<T: Sendable>: Sendable {
    case finished(T)
    case timedOut
    case leasedInTime
}

/// Set once a connection was leased; shared by the lease's two tasks.
private final class LeaseFlag: Sendable {
    let value = Mutex(false)
}
