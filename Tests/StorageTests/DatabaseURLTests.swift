import Testing

@testable import Storage

struct DatabaseURLTests {
    @Test func readsEveryPart() throws {
        let url = try DatabaseURL("postgres://orders:s%40cret@db.example:6543/platform?sslmode=verify-full")
        #expect(url.host == "db.example")
        #expect(url.port == 6543)
        #expect(url.user == "orders")
        #expect(url.password == "s@cret")
        #expect(url.database == "platform")
        #expect(url.tls == .verifyFull)
    }

    @Test func defaultsAreLibpqs() throws {
        let url = try DatabaseURL("postgresql://orders@localhost/platform")
        #expect(url.port == 5432)
        #expect(url.password == nil)
        #expect(url.tls == .prefer)
    }

    @Test func theDescriptionNeverShowsThePassword() throws {
        let url = try DatabaseURL("postgres://orders:hunter2@db:5432/platform")
        #expect(url.description == "postgres://orders:***@db:5432/platform")
        #expect(!String(describing: url).contains("hunter2"))
    }

    @Test(arguments: [
        ("mysql://u@h/d", "scheme \"mysql\""),
        ("postgres://u@h", "names no database"),
        ("postgres://h/d", "names no user"),
        ("postgres://u:hunter2@h/d?sslmode=sometimes", "sslmode=sometimes"),
        ("postgres://u:hunter2@h/d?pool=3", "unknown parameter \"pool\""),
        ("not a url", "not a URL"),
    ])
    func malformedURLsSayWhatIsWrongWithoutThePassword(_ text: String, _ problem: String) {
        let error = #expect(throws: DatabaseURL.Invalid.self) { try DatabaseURL(text) }
        #expect(error?.description.contains(problem) == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("hunter2") == false)
    }

    @Test func placeholdersAreNumberedOutsideQuotes() {
        let sql = "SELECT '?', \"a?\" FROM t WHERE a = ? AND b IN (?, ?)"
        #expect(
            PostgreSQLTransaction.numberedPlaceholders(sql)
                == "SELECT '?', \"a?\" FROM t WHERE a = $1 AND b IN ($2, $3)"
        )
    }

    @Test func migrationScriptsSplitAtLineEndSemicolons() {
        let statements = Migration.statements(of: "CREATE TABLE a (x TEXT);\nCREATE INDEX i ON a(x);\n")
        #expect(statements.count == 2)
        #expect(statements[1].hasPrefix("CREATE INDEX"))
    }

    @Test("the connection string gives back the same URL, password and odd characters included")
    func connectionStringRoundTrips() throws {
        for text in [
            "postgres://app:p%40ss%3Aw%2Frd@db.example.org:6432/orders?sslmode=require",
            "postgres://app@127.0.0.1/orders",
        ] {
            let url = try DatabaseURL(text)
            #expect(try DatabaseURL(url.connectionString) == url)
        }
        #expect(try DatabaseURL("postgres://app:s3cret@h/d").connectionString.contains("s3cret"))
    }

    @Test("a portable migration names the types that differ once and gets each dialect's")
    func portableMigrationsRenderPerDialect() {
        let script = "CREATE TABLE t (id {ID}, n {INT64} NOT NULL, b {BYTES}){KEYED};"
        #expect(
            Migration.render(script, .sqlite)
                == "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL, b BLOB) WITHOUT ROWID;"
        )
        #expect(
            Migration.render(script, .postgres)
                == "CREATE TABLE t (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n BIGINT NOT NULL, b BYTEA);"
        )
    }
}
