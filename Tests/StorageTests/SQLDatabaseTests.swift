import Foundation
import Logging
import GRDB
import StorageTesting
import Synchronization
import Testing

@testable import Storage

/// The same behaviour from both backends: a real SQLite file and a real PostgreSQL server.
@Suite(.postgresServer)
struct SQLDatabaseTests {
    typealias Backend = TestBackend

    /// A fresh database of `backend`: a new file, or a new schema on the shared server.
    static func open(_ backend: Backend) async throws -> any SQLDatabase {
        try await TestPostgresServer.openDatabase(backend)
    }

    static let schema = [
        Migration(
            "test-v1",
            sqlite: """
                CREATE TABLE items (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL UNIQUE,
                    quantity INTEGER NOT NULL,
                    price REAL,
                    payload BLOB
                );
                CREATE INDEX items_by_quantity ON items(quantity);
                """,
            postgres: """
                CREATE TABLE items (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    quantity BIGINT NOT NULL,
                    price DOUBLE PRECISION,
                    payload BYTEA
                );
                CREATE INDEX items_by_quantity ON items(quantity);
                """
        )
    ]

    /// Runs `body` with a fresh migrated database of `backend` and closes it after, also when
    /// `body` throws.
    static func withMigrated(_ backend: Backend, _ body: (any SQLDatabase) async throws -> Void) async throws {
        let database = try await open(backend)
        do {
            try await database.migrate(schema)
            try await body(database)
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    @Test(arguments: Backend.allCases)
    func valuesRoundTrip(_ backend: Backend) async throws {
        try await Self.withMigrated(backend) { database in
            let bytes: [UInt8] = [0, 1, 0xFF, 0x27]
            try await database.write { transaction in
                try transaction.execute(
                    "INSERT INTO items (name, quantity, price, payload) VALUES (?, ?, ?, ?)",
                    ["it's ? quoted", 42, 1.5, bytes]
                )
                try transaction.execute(
                    "INSERT INTO items (name, quantity, price, payload) VALUES (?, ?, ?, ?)",
                    ["nulls", Int64.max, nil, nil]
                )
            }
            let rows = try await database.read { try $0.fetchAll("SELECT * FROM items ORDER BY id", []) }
            #expect(rows.count == 2)
            #expect(try rows[0]["name"] as String == "it's ? quoted")
            #expect(try rows[0]["quantity"] as Int == 42)
            #expect(try rows[0]["price"] as Double? == 1.5)
            #expect(try rows[0]["payload"] as [UInt8] == bytes)
            #expect(try rows[1]["quantity"] as Int64 == Int64.max)
            #expect(try rows[1]["price"] as Double? == nil)
            #expect(try rows[1]["payload"] as Data? == nil)
            let count = try await database.read {
                try $0.fetchValue(Int.self, "SELECT COUNT(*) FROM items WHERE quantity > ?", [0])
            }
            #expect(count == 2)
        }
    }

    @Test(arguments: Backend.allCases)
    func readingAnotherTypeIsAnError(_ backend: Backend) async throws {
        try await Self.withMigrated(backend) { database in
            try await database.write { try $0.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["a", 1]) }
            let row = try #require(try await database.read { try $0.fetchOne("SELECT name, quantity FROM items") })
            let mismatch = #expect(throws: SQLValueMismatch.self) { try row["name"] as Int }
            #expect(mismatch?.description.contains("column name holds text, not Int") == true)
            #expect(throws: SQLValueMismatch.self) { try row["missing"] as String }
        }
    }

    @Test(arguments: Backend.allCases)
    func aThrowingTransactionChangesNothing(_ backend: Backend) async throws {
        struct Abort: Error {}
        try await Self.withMigrated(backend) { database in
            await #expect(throws: Abort.self) {
                try await database.write { transaction in
                    try transaction.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["gone", 1])
                    throw Abort()
                }
            }
            let count = try await database.read { try $0.fetchValue(Int.self, "SELECT COUNT(*) FROM items") }
            #expect(count == 0)
        }
    }

    @Test(arguments: Backend.allCases)
    func aFailedSavepointRollsBackAloneAndTheTransactionGoesOn(_ backend: Backend) async throws {
        try await Self.withMigrated(backend) { database in
            let names = try await database.write { transaction in
                try transaction.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["kept", 1])
                #expect(throws: (any Error).self, "the duplicate name is refused") {
                    try transaction.savepoint {
                        try transaction.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["rolled back", 2])
                        // A unique violation: the database's own error, after a change in the savepoint.
                        try transaction.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["kept", 3])
                    }
                }
                try transaction.savepoint {
                    try transaction.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["after", 4])
                }
                return try transaction.fetchAll("SELECT name FROM items ORDER BY id", []).map {
                    try $0["name"] as String
                }
            }
            #expect(names == ["kept", "after"])
        }
    }

    /// The inbox's rule: an insert that conflicts changes no row and says so.
    @Test(arguments: Backend.allCases)
    func changedRowCountsSeeAConflictIgnored(_ backend: Backend) async throws {
        try await Self.withMigrated(backend) { database in
            let sql = "INSERT INTO items (name, quantity) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"
            let first = try await database.write { try $0.execute(sql, ["event-1", 1]) }
            let repeated = try await database.write { try $0.execute(sql, ["event-1", 1]) }
            let updated = try await database.write { try $0.execute("UPDATE items SET quantity = quantity + 1", []) }
            #expect([first, repeated, updated] as [Int] == [1, 0, 1])
        }
    }

    @Test(arguments: Backend.allCases)
    func migrationsApplyOnceEachInOrder(_ backend: Backend) async throws {
        try await Self.withMigrated(backend) { database in
            let second = Migration("test-v2") { transaction in
                try transaction.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["seeded by v2", 7])
            }
            try await database.migrate(Self.schema + [second])
            try await database.migrate(Self.schema + [second])
            #expect(try await database.read { try $0.fetchValue(Int.self, "SELECT COUNT(*) FROM items") } == 1)
        }
    }

    @Test(arguments: Backend.allCases)
    func aRelaxedCommitIsVisibleAndLaterCommitsAreDurable(_ backend: Backend) async throws {
        try await Self.withMigrated(backend) { database in
            try await database.write(durability: .relaxed) {
                try $0.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["relaxed", 1])
            }
            try await database.write {
                try $0.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["durable", 2])
            }
            #expect(
                try await database.read {
                    try $0.fetchValue(Int.self, "SELECT CAST(SUM(quantity) AS BIGINT) FROM items")
                }
                    == 3
            )
            if let sqlite = database as? SQLiteDatabase {
                let synchronous = try await sqlite.pool.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
                #expect(synchronous == 2, "every connection is back to synchronous = FULL")
            }
        }
    }

    /// `SAVEPOINT` and `RELEASE` are sent without waiting for their answers; one that fails still
    /// fails the statement after it, and the transaction is no longer intact. A savepoint opened
    /// after a failure outside any savepoint is refused with the transaction's own state, and the
    /// write then fails instead of committing: PostgreSQL would answer its `COMMIT` with a rollback.
    @Test func postgresAFailedStatementSentWithoutWaitingFailsTheNextOne() async throws {
        try await Self.withMigrated(.postgres) { database in
            let seen = Mutex<(sqlState: String?, intact: Bool)?>(nil)
            await #expect(throws: PostgreSQLTransactionAborted.self) {
                try await database.write { transaction in
                    try transaction.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["kept", 1])
                    // A unique violation outside every savepoint: PostgreSQL refuses what follows.
                    _ = try? transaction.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["kept", 2])
                    do {
                        try transaction.savepoint {
                            try transaction.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["never", 3])
                        }
                    } catch {
                        seen.withLock {
                            $0 = ((error as? PostgreSQLError)?.sqlState, transaction.isIntact(after: error))
                        }
                    }
                }
            }
            let outcome = seen.withLock { $0 }
            #expect(outcome?.sqlState == "25P02", "in_failed_sql_transaction, from the SAVEPOINT sent before")
            #expect(outcome?.intact == false)
            let stored = try await database.read { try $0.fetchValue(Int.self, "SELECT COUNT(*) FROM items") }
            #expect(stored == 0)
        }
    }

    /// Statements sent without waiting run in order and commit with the transaction; a statement
    /// that waits sees what they changed.
    @Test(arguments: Backend.allCases)
    func sentStatementsRunInOrderAndCommit(_ backend: Backend) async throws {
        try await Self.withMigrated(backend) { database in
            @Sendable func rows(_ transaction: any SQLTransaction) throws -> [String] {
                try transaction.fetchAll("SELECT name, quantity FROM items ORDER BY name", []).map {
                    "\(try $0["name"] as String)=\(try $0["quantity"] as Int)"
                }
            }
            let seenInside = try await database.write { transaction in
                try transaction.send("INSERT INTO items (name, quantity) VALUES (?, ?)", ["a", 1])
                try transaction.savepoint {
                    try transaction.send("UPDATE items SET quantity = quantity + 10 WHERE name = ?", ["a"])
                    try transaction.send("INSERT INTO items (name, quantity) VALUES (?, ?)", ["b", 2])
                }
                return try rows(transaction)
            }
            #expect(seenInside == ["a=11", "b=2"])
            #expect(try await database.read(rows) == ["a=11", "b=2"])
        }
    }

    /// On PostgreSQL a sent statement's failure surfaces later, outside the savepoint it was sent
    /// in: the savepoint cannot keep the rest, and the write fails (here at `COMMIT`, the only
    /// statement that waits) with the statement's own error. Nothing of the transaction is stored.
    @Test func postgresAFailedSentStatementFailsTheWholeWrite() async throws {
        try await Self.withMigrated(.postgres) { database in
            let error = await #expect(throws: PostgreSQLError.self) {
                try await database.write { transaction in
                    try transaction.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["kept", 1])
                    try transaction.savepoint {
                        try transaction.send("INSERT INTO items (name, quantity) VALUES (?, ?)", ["kept", 2])
                    }
                    try transaction.send("INSERT INTO items (name, quantity) VALUES (?, ?)", ["after", 3])
                }
            }
            #expect(error?.sqlState == "23505", "unique_violation, the sent INSERT's own error")
            let stored = try await database.read { try $0.fetchValue(Int.self, "SELECT COUNT(*) FROM items") }
            #expect(stored == 0)
        }
    }

    /// Services on one server share no table: each has its schema.
    @Test func postgresSchemasKeepServicesApart() async throws {
        try await Self.withMigrated(.postgres) { first in
            try await Self.withMigrated(.postgres) { second in
                try await first.write {
                    try $0.execute("INSERT INTO items (name, quantity) VALUES (?, ?)", ["only here", 1])
                }
                #expect(try await first.read { try $0.fetchValue(Int.self, "SELECT COUNT(*) FROM items") } == 1)
                #expect(try await second.read { try $0.fetchValue(Int.self, "SELECT COUNT(*) FROM items") } == 0)
            }
        }
    }
}
