import PostgresNIO

/// A PostgreSQL statement or connection failed: the server's SQLSTATE and message, or what
/// happened to the connection. Never the statement, its arguments or the server's detail line
/// (which can quote a row's values, such as a customer's email), so it is safe to log.
public struct PostgreSQLError: Error, Sendable, CustomStringConvertible {
    /// The server's five-character SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html);
    /// nil when the server did not answer (a connection error).
    public let sqlState: String?
    /// The server's primary message, or what happened to the connection.
    public let message: String
    /// PostgresNIO's error, for debugging (its reflection can contain the statement).
    public let underlying: PSQLError

    /// The error `error` stands for, when it is PostgresNIO's.
    init?(_ error: any Error) {
        guard let error = error as? PSQLError else { return nil }
        underlying = error
        if error.code == .server {
            sqlState = error.serverInfo?[.sqlState]
            message = error.serverInfo?[.message] ?? "the server reported an error"
        } else {
            sqlState = nil
            message = Self.connectionMessages[error.code] ?? "PostgreSQL client error \(error.code)"
        }
    }

    /// True when the server never answered: the connection failed, closed or could not be set up.
    public var isConnectionFailure: Bool {
        sqlState == nil && Self.connectionMessages[underlying.code] != nil
    }

    /// `duplicate key value violates unique constraint "payments_pkey" (SQLSTATE 23505)`.
    public var description: String {
        sqlState.map { "\(message) (SQLSTATE \($0))" } ?? message
    }

    private static let connectionMessages: [PSQLError.Code: String] = [
        .connectionError: "the connection to PostgreSQL failed",
        .serverClosedConnection: "PostgreSQL closed the connection",
        .clientClosedConnection: "the connection to PostgreSQL was closed",
        .uncleanShutdown: "the connection to PostgreSQL ended uncleanly",
        .poolClosed: "the PostgreSQL connection pool is closed",
        .sslUnsupported: "the PostgreSQL server does not support TLS (sslmode requires it)",
        .failedToAddSSLHandler: "TLS could not be set up for the PostgreSQL connection",
        .unsupportedAuthMechanism: "the PostgreSQL server asks for an authentication method this client lacks",
        .authMechanismRequiresPassword: "the PostgreSQL server asks for a password and DATABASE_URL has none",
        .saslError: "PostgreSQL authentication (SCRAM) failed",
    ]
}
