import Foundation

/// One versioned change of a database's schema, applied once, in the order given, by
/// ``SQLDatabase/migrate(_:)``.
///
/// Names are the versions: a migration once shipped is never renamed or changed (databases in
/// the field record it as applied by its name); a change is a new migration.
public struct Migration: Sendable {
    /// The migration's unique name, such as `platform-v1`.
    public let name: String
    /// Applies the change inside the migration's transaction.
    public let apply: @Sendable (any SQLTransaction) throws -> Void

    /// A migration that runs `apply`, which may switch on the transaction's dialect.
    public init(_ name: String, apply: @escaping @Sendable (any SQLTransaction) throws -> Void) {
        self.name = name
        self.apply = apply
    }

    /// A migration of DDL, one script per dialect; statements end with `;` at the end of a line.
    public init(_ name: String, sqlite: String, postgres: String) {
        self.init(name) { transaction in
            let script = transaction.dialect == .sqlite ? sqlite : postgres
            for statement in Self.statements(of: script) { try transaction.execute(statement) }
        }
    }

    /// A migration of DDL written once for both dialects, with these words in place of the types
    /// that differ: `{ID}` (a 64-bit key numbered in insertion order: `INTEGER PRIMARY KEY
    /// AUTOINCREMENT` / `BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY`), `{INT64}` (`INTEGER` /
    /// `BIGINT`), `{BYTES}` (`BLOB` / `BYTEA`) and `{KEYED}` after a table keyed by its primary key
    /// (` WITHOUT ROWID` / nothing).
    public init(_ name: String, portable script: String) {
        self.init(name, sqlite: Self.render(script, .sqlite), postgres: Self.render(script, .postgres))
    }

    static func render(_ script: String, _ dialect: SQLDialect) -> String {
        let words: [(String, sqlite: String, postgres: String)] = [
            ("{ID}", "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
            ("{INT64}", "INTEGER", "BIGINT"),
            ("{BYTES}", "BLOB", "BYTEA"),
            ("{KEYED}", " WITHOUT ROWID", ""),
        ]
        return words.reduce(script) { text, word in
            text.replacingOccurrences(of: word.0, with: dialect == .sqlite ? word.sqlite : word.postgres)
        }
    }

    /// The statements of `script`, split where a line ends with `;` (PostgreSQL's extended
    /// protocol takes one statement at a time; the platform's DDL has no `;` inside a line's
    /// end otherwise).
    static func statements(of script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        for line in script.split(separator: "\n", omittingEmptySubsequences: false) {
            current += line + "\n"
            if line.trimmingCharacters(in: .whitespaces).hasSuffix(";") {
                statements.append(current)
                current = ""
            }
        }
        if !current.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { statements.append(current) }
        return statements
    }
}
