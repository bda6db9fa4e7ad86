import Foundation
import Logging
import StorageTesting
import Testing

@testable import Storage

@Suite("What a store error means for the loop that retries it")
struct StoreFailureTests {
    @Test(
        "PostgreSQL's SQLSTATEs by what an operator does about them",
        arguments: [
            ("40001", StoreFailure.Kind.busy), ("40P01", .busy), ("55P03", .busy), ("23505", .busy),
            ("53100", .full), ("53200", .full), ("53300", .unavailable), ("58030", .io), ("25006", .readOnly),
            ("42501", .readOnly), ("57P01", .unavailable), ("08006", .unavailable), ("XX001", .corrupt),
            ("23514", .other), ("42P01", .other),
        ]
    )
    func sqlStates(_ state: String, _ kind: StoreFailure.Kind) {
        #expect(StoreFailure.kind(sqlState: state) == kind)
    }

    @Test("a real constraint violation from the server is classified by its SQLSTATE and says nothing of the row")
    func serverErrorFromARealServer() async throws {
        let database = try await TestPostgresServer.openDatabase(.postgres)
        try await database.migrate([
            Migration("t-v1", sqlite: "", postgres: "CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT CHECK (n >= 0));")
        ])
        try await database.write { try $0.execute("INSERT INTO t VALUES (?, ?)", ["secret@example.com", 1]) }
        let duplicate = await #expect(throws: PostgreSQLError.self) {
            try await database.write { try $0.execute("INSERT INTO t VALUES (?, ?)", ["secret@example.com", 2]) }
        }
        #expect(duplicate?.sqlState == "23505")
        #expect(StoreFailure(try #require(duplicate))?.isTransient == true)
        #expect(duplicate.map { !$0.description.contains("secret@example.com") } == true)
        let check = await #expect(throws: PostgreSQLError.self) {
            try await database.write { try $0.execute("UPDATE t SET n = n - 5") }
        }
        #expect(StoreFailure(try #require(check))?.kind == .other)
        await database.close()
    }

    @Test("no server at the address: the call fails within the lease timeout as unavailable, naming no password")
    func serverDown() async throws {
        let url = try DatabaseURL("postgres://app:hunter2@127.0.0.1:1/orders?sslmode=disable")
        let database = try PostgreSQLDatabase(
            url: url,
            schema: "down",
            leaseTimeout: .milliseconds(500),
            logger: Logger(label: "test")
        )
        let error = await #expect(throws: PostgreSQLDatabase.Unavailable.self) {
            try await database.read { try $0.fetchValue(Int.self, "SELECT 1") }
        }
        #expect(error?.waited == .milliseconds(500))
        #expect(StoreFailure(try #require(error))?.kind == .unavailable)
        #expect(error.map { !$0.description.contains("hunter2") && $0.description.contains("127.0.0.1:1") } == true)
        await database.close()
    }
}
