import Logging
import NIOCore
import PostgresNIO

/// A transaction on one leased PostgreSQL connection, run on a thread of the database's pool:
/// each statement waits there for the server's answer (see ``PostgreSQLDatabase``).
///
/// Statements whose answer the caller does not need (`BEGIN`, `SET LOCAL`, `SAVEPOINT`,
/// `RELEASE SAVEPOINT`: ``deferred(_:)``; a handler's writes: ``send(_:_:)``) are queued on the
/// connection without waiting; the connection runs them in order, and the next statement that
/// waits also checks them, so a failure among them fails that statement (and marks the
/// transaction aborted). This saves a thread hop to the event loop and back for each of them,
/// most of a transaction's statements when each event or order has its savepoint.
final class PostgreSQLTransaction: SQLTransaction {
    private let connection: PostgresConnection
    private let logger: Logger
    private var savepoints = 0
    /// Set when a statement failed outside every savepoint, or a rollback to one failed:
    /// PostgreSQL refuses the rest of the transaction.
    private var aborted = false
    /// Savepoints open now.
    private var depth = 0
    /// Statements sent and not yet checked, in the order they were sent.
    private var pending: [EventLoopFuture<PostgresQueryResult>] = []

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    var dialect: SQLDialect { .postgres }

    func execute(_ sql: String, _ arguments: SQLArguments) throws -> Int {
        try run(sql, arguments).metadata.rows ?? 0
    }

    /// Queued on the connection without waiting, like ``deferred(_:)``.
    func send(_ sql: String, _ arguments: SQLArguments) throws {
        pending.append(connection.query(Self.query(sql, arguments), logger: logger))
    }

    func fetchAll(_ sql: String, _ arguments: SQLArguments) throws -> [SQLRow] {
        try run(sql, arguments).rows.map { row in
            var columns: [String] = []
            var values: [SQLValue] = []
            for cell in row {
                columns.append(cell.columnName)
                values.append(try Self.value(cell))
            }
            return SQLRow(columns: columns, values: values)
        }
    }

    func savepoint<T>(_ body: () throws -> T) throws -> T {
        savepoints += 1
        let name = "s\(savepoints)"
        deferred("SAVEPOINT \(name)")
        depth += 1
        defer { depth -= 1 }
        do {
            let result = try body()
            deferred("RELEASE SAVEPOINT \(name)")
            return result
        } catch {
            // PostgreSQL refuses every statement of a transaction after an error until it is
            // rolled back to a savepoint: roll back this one's changes, keep the transaction.
            // When that fails too (the connection is gone), the body's error says what happened.
            do {
                try execute("ROLLBACK TO SAVEPOINT \(name)")
            } catch {
                aborted = true
            }
            throw error
        }
    }

    func isIntact(after error: any Error) -> Bool {
        !aborted
    }

    /// True once PostgreSQL refuses the rest of the transaction: its `COMMIT` would roll back.
    var isAborted: Bool { aborted }

    /// Sends a statement without arguments and without waiting for its answer: the next statement
    /// that waits checks it.
    func deferred(_ sql: String) {
        pending.append(connection.query(PostgresQuery(unsafeSQL: sql), logger: logger))
    }

    private func run(_ sql: String, _ arguments: SQLArguments) throws -> PostgresQueryResult {
        let answer = connection.query(Self.query(sql, arguments), logger: logger)
        try checkPending(before: answer)
        do {
            return try answer.wait()
        } catch {
            if depth == 0 { aborted = true }
            throw PostgreSQLError(error) ?? error
        }
    }

    /// Waits for the statements sent before `next`; when one failed, the transaction is aborted
    /// (PostgreSQL refuses what follows until a rollback), so `next` and the rest are waited for
    /// and the first failure is thrown.
    private func checkPending(before next: EventLoopFuture<PostgresQueryResult>) throws {
        guard !pending.isEmpty else { return }
        let sent = pending
        pending.removeAll(keepingCapacity: true)
        for (index, statement) in sent.enumerated() {
            do {
                _ = try statement.wait()
            } catch {
                aborted = true
                for later in sent[(index + 1)...] { _ = try? later.wait() }
                _ = try? next.wait()
                throw PostgreSQLError(error) ?? error
            }
        }
    }

    private static func query(_ sql: String, _ arguments: SQLArguments) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: arguments.values.count)
        for value in arguments.values {
            switch value {
            case .null: bindings.appendNull()
            case .integer(let integer): bindings.append(integer)
            case .real(let real): bindings.append(real)
            case .text(let text): bindings.append(text)
            case .blob(let bytes): bindings.append(ByteBuffer(bytes: bytes))
            }
        }
        return PostgresQuery(unsafeSQL: numberedPlaceholders(sql), binds: bindings)
    }

    /// `sql` with its `?` placeholders numbered `$1, $2, …` as PostgreSQL wants them; a `?`
    /// inside a quoted string or identifier is left alone.
    static func numberedPlaceholders(_ sql: String) -> String {
        var result = ""
        result.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        var quote: Character?
        for character in sql {
            if let open = quote {
                if character == open { quote = nil }
                result.append(character)
            } else if character == "'" || character == "\"" {
                quote = character
                result.append(character)
            } else if character == "?" {
                number += 1
                result += "$\(number)"
            } else {
                result.append(character)
            }
        }
        return result
    }

    private static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8, .oid: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(Array(try cell.decode(ByteBuffer.self).readableBytesView))
        case .text, .varchar, .name, .bpchar: return .text(try cell.decode(String.self))
        case .void: return .null
        default:
            throw SQLValueMismatch(
                column: cell.columnName,
                expected: "text, an integer, a real or bytes",
                found: "PostgreSQL type \(cell.dataType)"
            )
        }
    }
}
