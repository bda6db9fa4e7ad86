import GRDB

/// What a failed write to a service's SQLite store means for the loop that retries it: whether
/// it goes away by itself (another connection holds the lock) or needs someone to act (disk
/// full, I/O error, read-only or corrupt database).
public struct StoreFailure: Sendable, Hashable, CustomStringConvertible {
    /// The kinds of store errors, as operators act on them.
    public enum Kind: String, Sendable, CaseIterable {
        /// Another connection holds a lock (`SQLITE_BUSY`, `SQLITE_LOCKED`): transient.
        case busy
        /// The disk, or the database's size limit, is full (`SQLITE_FULL`).
        case full
        /// The disk failed a read or write, or the file cannot be opened (`SQLITE_IOERR`,
        /// `SQLITE_CANTOPEN`).
        case io
        /// The database cannot be written (`SQLITE_READONLY`, `SQLITE_PERM`, `SQLITE_AUTH`).
        case readOnly
        /// The file is damaged or not a database (`SQLITE_CORRUPT`, `SQLITE_NOTADB`).
        case corrupt
        /// Any other SQLite error (a constraint, the schema, memory): retrying the same write
        /// will not help until something changes.
        case other
    }

    public let kind: Kind
    /// SQLite's name of the primary result code, such as `SQLITE_FULL`.
    public let code: String
    /// SQLite's message (never the statement or its arguments).
    public let message: String

    /// The failure `error` stands for; nil when it is not a database error (a handler's own
    /// error, which the consume loop treats as transient).
    public init?(_ error: any Error) {
        guard let error = error as? DatabaseError else { return nil }
        let (kind, code) = Self.classify(error.resultCode)
        self.kind = kind
        self.code = code
        self.message = error.message ?? "SQLite error \(error.resultCode.rawValue)"
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
}
