import Logging
import PostgresNIO

/// What a tool does to a PostgreSQL server itself rather than to a service's database: create a
/// scratch database for a run (order-bench, the test harness) and drop it after.
public enum PostgreSQLServer {
    /// Creates an empty database `name` on the server of `url` (connecting to `url`'s database)
    /// and returns `url` naming it instead.
    /// - Parameter name: lower-case letters, digits and `_`, starting with a letter.
    public static func createDatabase(_ name: String, on url: DatabaseURL, logger: Logger) async throws -> DatabaseURL {
        try await run("CREATE DATABASE \(try identifier(name))", on: url, logger: logger)
        var created = url
        created.database = name
        return created
    }

    /// Drops database `name` of the server of `url`, ending the sessions still connected to it.
    public static func dropDatabase(_ name: String, on url: DatabaseURL, logger: Logger) async throws {
        try await run("DROP DATABASE IF EXISTS \(try identifier(name)) WITH (FORCE)", on: url, logger: logger)
    }

    /// A name that is not a plain identifier.
    public struct InvalidName: Error, Sendable, CustomStringConvertible {
        public var name: String
        public var description: String {
            "\"\(name)\" is not a database name this tool creates: lower-case letters, digits and _, starting with a letter"
        }
    }

    private static func identifier(_ name: String) throws(InvalidName) -> String {
        guard let first = name.first, first.isASCII, first.isLowercase, name.count <= 63,
            name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") })
        else { throw InvalidName(name: name) }
        return name
    }

    /// Runs one statement outside any transaction (CREATE and DROP DATABASE refuse to run in one).
    private static func run(_ sql: String, on url: DatabaseURL, logger: Logger) async throws {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                configuration: PostgresConnection.Configuration(
                    host: url.host,
                    port: url.port,
                    username: url.user,
                    password: url.password,
                    database: url.database,
                    tls: try PostgreSQLDatabase.connectionTLS(url.tls)
                ),
                id: 0,
                logger: logger
            )
        } catch {
            throw PostgreSQLError(error) ?? error
        }
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        } catch {
            try? await connection.close()
            throw PostgreSQLError(error) ?? error
        }
        try await connection.close()
    }
}
