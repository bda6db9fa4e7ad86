import Logging
import NIOCore
import PostgresNIO

/// A transaction on one leased PostgreSQL connection, run on a thread of the database's pool:
/// each statement whose answer is read waits there for the server (see ``PostgreSQLDatabase``).
///
/// Statements whose answer the caller does not need (`BEGIN`, `SET LOCAL`, `SAVEPOINT`,
/// `RELEASE SAVEPOINT`: ``deferred(_:)``; a handler's writes: ``send(_:_:)``) are held here and
/// handed to the connection together with the next statement that waits, in one hop to its event
/// loop; the connection runs them in order, and that statement's answer also checks theirs, so a
/// failure among them fails it (and marks the transaction aborted). A thread hop to the event
/// loop costs a wake-up of each side: one per waited statement instead of one per statement
/// saves most of them when each event or order has its savepoint.
final class PostgreSQLTransaction: SQLTransaction {
    private let connection: PostgresConnection
    private let logger: Logger
    private var savepoints = 0
    /// Set when a statement failed outside every savepoint, or a rollback to one failed:
    /// PostgreSQL refuses the rest of the transaction.
    private var aborted = false
    /// Savepoints open now.
    private var depth = 0
    /// Statements not yet handed to the connection, in the order they were issued.
    private var unsent: [PostgresQuery] = []

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    var dialect: SQLDialect { .postgres }

    func execute(_ sql: String, _ arguments: SQLArguments) throws -> Int {
        try run(sql, arguments).metadata.rows ?? 0
    }

    /// Held until the next statement that waits, like ``deferred(_:)``.
    func send(_ sql: String, _ arguments: SQLArguments) throws {
        unsent.append(Self.query(sql, arguments))
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

    /// Issues a statement without arguments whose answer is not waited for: the next statement
    /// that waits takes it to the connection and checks it.
    func deferred(_ sql: String) {
        unsent.append(PostgresQuery(unsafeSQL: sql))
    }

    private func run(_ sql: String, _ arguments: SQLArguments) throws -> PostgresQueryResult {
        let (earlier, answer) = submit(Self.query(sql, arguments))
        // The connection answers in order: once `answer` is in, so are the earlier ones.
        let result = Result { try answer.wait() }
        for statement in earlier {
            do {
                _ = try statement.wait()
            } catch {
                // PostgreSQL refused what followed (`answer` too) until a rollback.
                aborted = true
                throw PostgreSQLError(error) ?? error
            }
        }
        do {
            return try result.get()
        } catch {
            if depth == 0 { aborted = true }
            throw PostgreSQLError(error) ?? error
        }
    }

    /// Hands the held statements and then `last` to the connection in one task on its event
    /// loop, so that each is written there at once instead of hopping to the loop on its own.
    private func submit(
        _ last: PostgresQuery
    ) -> (earlier: [EventLoopFuture<PostgresQueryResult>], answer: EventLoopFuture<PostgresQueryResult>) {
        let (connection, logger) = (self.connection, self.logger)
        guard !unsent.isEmpty else { return ([], connection.query(last, logger: logger)) }
        let queries = unsent + [last]
        unsent.removeAll(keepingCapacity: true)
        let eventLoop = connection.eventLoop
        let promises = queries.map { _ in eventLoop.makePromise(of: PostgresQueryResult.self) }
        eventLoop.execute {
            for (query, promise) in zip(queries, promises) {
                connection.query(query, logger: logger).cascade(to: promise)
            }
        }
        return (promises.dropLast().map(\.futureResult), promises[promises.count - 1].futureResult)
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
