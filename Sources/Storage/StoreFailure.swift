import GRDB

/// What a failed write to a service's store means for the loop that retries it: whether it goes
/// away by itself (a lock, a lost race) or needs someone to act (disk full, I/O error, read-only
/// or corrupt database, a server that cannot be reached). The one place that reads the
/// backends' errors, SQLite's (GRDB) and PostgreSQL's (PostgresNIO).
public struct StoreFailure: Sendable, Hashable, CustomStringConvertible {
    /// The kinds of store errors, as operators act on them.
    public enum Kind: String, Sendable, CaseIterable {
        /// Another connection holds a lock or won a race (`SQLITE_BUSY`, `SQLITE_LOCKED`;
        /// PostgreSQL's serialization failure, deadlock, lock not available, a unique key taken by
        /// a concurrent transaction): transient.
        case busy
        /// The disk, or the database's size limit, is full (`SQLITE_FULL`; PostgreSQL `53100`
        /// disk full, `53xxx` out of memory or another resource).
        case full
        /// The disk failed a read or write, or the file cannot be opened (`SQLITE_IOERR`,
        /// `SQLITE_CANTOPEN`; PostgreSQL `58xxx` system errors).
        case io
        /// The database cannot be written (`SQLITE_READONLY`, `SQLITE_PERM`, `SQLITE_AUTH`;
        /// PostgreSQL `25006` read-only transaction, as on a standby, `42501` no privilege).
        case readOnly
        /// The file is damaged or not a database (`SQLITE_CORRUPT`, `SQLITE_NOTADB`; PostgreSQL
        /// `XX001`/`XX002`).
        case corrupt
        /// The PostgreSQL server cannot be reached, refused the connection, or is shutting down
        /// (`08xxx`, `57P01`–`57P03`, `53300` too many connections, no connection in time).
        case unavailable
        /// Any other error (a constraint, the schema, memory): retrying the same write will not
        /// help until something changes.
        case other
    }

    public let kind: Kind
    /// The backend's name of the error: SQLite's primary result code (`SQLITE_FULL`), or
    /// PostgreSQL's SQLSTATE (`SQLSTATE 53100`).
    public let code: String
    /// The backend's message (never the statement or its arguments).
    public let message: String

    /// The failure `error` stands for; nil when it is not a database error (a handler's own
    /// error, which the consume loop treats as transient).
    public init?(_ error: any Error) {
        switch error {
        case let error as DatabaseError:
            (kind, code) = Self.classify(error.resultCode)
            message = error.message ?? "SQLite error \(error.resultCode.rawValue)"
        case let error as PostgreSQLError:
            guard let failure = Self.classify(error) else { return nil }
            self = failure
        case let error as PostgreSQLDatabase.Unavailable:
            (kind, code, message) = (.unavailable, "no connection", error.description)
        default:
            return nil
        }
    }

    private init(kind: Kind, code: String, message: String) {
        (self.kind, self.code, self.message) = (kind, code, message)
    }

    /// True when retrying may succeed without anyone acting.
    public var isTransient: Bool { kind == .busy }

    /// `database or disk is full (SQLITE_FULL)`.
    public var description: String { "\(message) (\(code))" }

    private static func classify(_ code: ResultCode) -> (Kind, String) {
        switch code {
        case .SQLITE_BUSY: (.busy, "SQLITE_BUSY")
        case .SQLITE_LOCKED: (.busy, "SQLITE_LOCKED")
        case .SQLITE_FULL: (.full, "SQLITE_FULL")
        case .SQLITE_IOERR: (.io, "SQLITE_IOERR")
        case .SQLITE_CANTOPEN: (.io, "SQLITE_CANTOPEN")
        case .SQLITE_READONLY: (.readOnly, "SQLITE_READONLY")
        case .SQLITE_PERM: (.readOnly, "SQLITE_PERM")
        case .SQLITE_AUTH: (.readOnly, "SQLITE_AUTH")
        case .SQLITE_CORRUPT: (.corrupt, "SQLITE_CORRUPT")
        case .SQLITE_NOTADB: (.corrupt, "SQLITE_NOTADB")
        case .SQLITE_CONSTRAINT: (.other, "SQLITE_CONSTRAINT")
        case .SQLITE_NOMEM: (.other, "SQLITE_NOMEM")
        case .SQLITE_TOOBIG: (.other, "SQLITE_TOOBIG")
        case .SQLITE_ERROR: (.other, "SQLITE_ERROR")
        default: (.other, "SQLite result code \(code.rawValue)")
        }
    }

    /// A server error by its SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html);
    /// a connection error as unavailable; nil for PostgresNIO's own errors of decoding or use.
    private static func classify(_ error: PostgreSQLError) -> StoreFailure? {
        if let state = error.sqlState {
            return StoreFailure(kind: kind(sqlState: state), code: "SQLSTATE \(state)", message: error.message)
        }
        guard error.isConnectionFailure else { return nil }
        return StoreFailure(kind: .unavailable, code: "connection", message: error.message)
    }

    static func kind(sqlState state: String) -> Kind {
        switch state {
        case "40001", "40P01", "55P03", "23505": .busy
        case "25006", "42501": .readOnly
        case "57P01", "57P02", "57P03", "53300": .unavailable
        case "XX001", "XX002": .corrupt
        default:
            switch state.prefix(2) {
            case "53": .full
            case "58": .io
            case "08": .unavailable
            default: .other
            }
        }
    }
}
