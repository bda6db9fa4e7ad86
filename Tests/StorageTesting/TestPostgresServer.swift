import Foundation
import GRDB
import Logging
import Storage
import Synchronization
import Testing

/// A real PostgreSQL server for the tests, from Debian's `postgresql` package: a fresh cluster in
/// a temporary directory on a free loopback port, run as the `postgres` user when the tests run
/// as root (PostgreSQL refuses to run as root). One server serves every suite of the test
/// process (``shared()``): started by the first suite that needs it, stopped when the process
/// exits. Each test works in a schema of its own, so tests running at once share nothing.
///
/// `TEST_DATABASE_URL` names a server to use instead (nothing is started or stopped then).
public struct TestPostgresServer: Sendable {
    /// `postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable`.
    public let url: String
    private let directory: URL?
    private let bin: String?

    /// Why a server could not be started, with what it printed.
    struct StartFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// The process's server, started on first use.
    public static func shared() async throws -> TestPostgresServer {
        let task = sharedServer.withLock { server in
            if let server { return server }
            let started = Task { try await offThePool { try TestPostgresServer.start() } }
            server = started
            return started
        }
        let server = try await task.value
        stopAtExit.withLock { registered in
            guard !registered else { return }
            registered = true
            atexit {
                if case .success(let server) = TestPostgresServer.sharedResult.withLock({ $0 }) { server.stop() }
            }
        }
        sharedResult.withLock { $0 = .success(server) }
        return server
    }

    private static let sharedServer = Mutex<Task<TestPostgresServer, any Error>?>(nil)
    private static let sharedResult = Mutex<Result<TestPostgresServer, any Error>?>(nil)
    private static let stopAtExit = Mutex(false)

    /// Runs `work` (which waits for initdb and pg_ctl, seconds) on a thread of its own: blocking
    /// one of the two cooperative threads of this machine starves the tests running beside it.
    private static func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let result: Result<T, any Error> = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: Result { try work() }) }.start()
        }
        return try result.get()
    }

    /// A new database of `backend` for one test: a new SQLite file in a temporary directory, or a
    /// new schema on the shared server.
    public static func openDatabase(
        _ backend: TestBackend,
        leaseTimeout: Duration = .seconds(10)
    ) async throws
        -> any SQLDatabase
    {
        let name = uniqueName()
        switch backend {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("storage-\(name)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return try SQLiteDatabase(path: directory.appendingPathComponent("\(name).sqlite").path)
        case .postgres:
            return try PostgreSQLDatabase(
                url: try DatabaseURL(try await shared().url),
                schema: name,
                leaseTimeout: leaseTimeout,
                logger: Logger(label: "test")
            )
        }
    }

    /// A new, empty database on the shared server, for a test that runs the services (whose
    /// schemas have fixed names); returns its URL.
    public static func createDatabase() async throws -> DatabaseURL {
        try await PostgreSQLServer.createDatabase(
            uniqueName(),
            on: try DatabaseURL(try await shared().url),
            logger: Logger(label: "test")
        )
    }

    /// `t_` and 12 random hex digits: a schema, file or service name no other test uses.
    public static func uniqueName() -> String {
        "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
    }

    static func start() throws -> TestPostgresServer {
        if let url = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"], !url.isEmpty {
            return TestPostgresServer(url: url, directory: nil, bin: nil)
        }
        let root = "/usr/lib/postgresql"
        guard
            let version = try? FileManager.default.contentsOfDirectory(atPath: root)
                .filter({ FileManager.default.fileExists(atPath: "\(root)/\($0)/bin/initdb") }).max()
        else {
            throw StartFailure(
                description: "no PostgreSQL server under \(root): apt-get install postgresql (make test-deps)"
            )
        }
        let bin = "\(root)/\(version)/bin"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pg-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if getuid() == 0 { try run("/bin/chown", ["postgres:postgres", directory.path]) }
        let data = directory.appendingPathComponent("data").path
        try runAsServerUser("\(bin)/initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"])
        // Another process may take the port between this check and the server's bind: pg_ctl
        // then fails and the next port is tried.
        for _ in 0..<5 {
            let port = try freeLoopbackPort()
            do {
                try runAsServerUser(
                    "\(bin)/pg_ctl",
                    [
                        "-D", data, "-l", directory.appendingPathComponent("server.log").path, "-w", "-t", "60",
                        "-o",
                        "-p \(port) -k \(directory.path) -c listen_addresses=127.0.0.1 -c fsync=off"
                            + " -c max_connections=400",
                        "start",
                    ]
                )
                watch(data: data, directory: directory.path, bin: bin)
                return TestPostgresServer(
                    url: "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable",
                    directory: directory,
                    bin: bin
                )
            } catch {
                continue
            }
        }
        let log = (try? String(contentsOf: directory.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
        throw StartFailure(description: "PostgreSQL did not start on a free port:\n\(log)")
    }

    /// Stops the server and removes its directory (nothing for a `TEST_DATABASE_URL` server).
    public func stop() {
        guard let directory, let bin else { return }
        try? Self.runAsServerUser(
            "\(bin)/pg_ctl",
            ["-D", directory.appendingPathComponent("data").path, "-m", "fast", "-w", "stop"]
        )
        try? FileManager.default.removeItem(at: directory)
    }

    private static func runAsServerUser(_ tool: String, _ arguments: [String]) throws {
        if getuid() == 0 {
            try run("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments)
        } else {
            try run(tool, arguments)
        }
    }

    /// Runs `tool` to its end with posix_spawn and waitpid (Foundation's `Process` waits for a
    /// child through a run loop, which a test's task does not run), its output in a file: a pipe
    /// would be held open by the server pg_ctl starts.
    /// Stops the server (and removes its directory) once this test process is gone, however it
    /// ended: a run killed before its exit handler would otherwise leave the server running. A
    /// shell of its own polls the process once a second; it is not waited for.
    private static func watch(data: String, directory: String, bin: String) {
        let stop =
            getuid() == 0
            ? "/usr/sbin/runuser -u postgres -- \(bin)/pg_ctl -D \(data) -m immediate stop"
            : "\(bin)/pg_ctl -D \(data) -m immediate stop"
        let script =
            "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(stop) >/dev/null 2>&1; rm -rf \(directory)"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for descriptor in Int32(0)...2 {
            posix_spawn_file_actions_addopen(
                &actions,
                descriptor,
                "/dev/null",
                descriptor == 0 ? O_RDONLY : O_WRONLY,
                0
            )
        }
        let words: [String] = ["/bin/sh", "-c", script]
        let argv = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        _ = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ)
    }

    private static func run(_ tool: String, _ arguments: [String]) throws {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("pg-tool-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, tool, &actions, nil, argv, environ)
        guard spawned == 0 else { throw StartFailure(description: "cannot run \(tool): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else {
            let printed = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw StartFailure(
                description: "\(tool) \(arguments.joined(separator: " ")) ended with status \(status): \(printed)"
            )
        }
    }

    private static func freeLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else { throw StartFailure(description: "no free loopback port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// The backends a store suite runs against.
public enum TestBackend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite, postgres
    public var testDescription: String { rawValue }
}

/// Makes the process's PostgreSQL server (``TestPostgresServer/shared()``) ready before the suite
/// it is attached to runs, and current (``TestPostgresServer/current``) in it.
public struct WithPostgresServer: SuiteTrait, TestScoping {
    public func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        let server = try await TestPostgresServer.shared()
        try await TestPostgresServer.$current.withValue(server) { try await function() }
    }
}

extension TestPostgresServer {
    @TaskLocal public static var current: TestPostgresServer?
}

extension Trait where Self == WithPostgresServer {
    /// The PostgreSQL server, for this suite.
    public static var postgresServer: Self { WithPostgresServer() }
}

extension SQLDatabase {
    /// The GRDB pool of a SQLite database, for tests of what only SQLite has (its pragmas, a
    /// full disk, a read-only file); fails the test on another backend.
    public var sqlitePool: DatabasePool {
        get throws {
            guard let sqlite = self as? SQLiteDatabase else {
                throw SQLiteOnly(location: location)
            }
            return sqlite.pool
        }
    }
}

/// A test of SQLite's own behaviour ran on another backend.
public struct SQLiteOnly: Error, CustomStringConvertible {
    public var location: String
    public var description: String { "\(location) is not a SQLite database" }
}
