import Foundation
import Testing

/// A real PostgreSQL server for the tests, from Debian's `postgresql` package: a fresh cluster in
/// a temporary directory on a free loopback port, run as the `postgres` user when the tests run
/// as root (PostgreSQL refuses to run as root), stopped when the suite ends.
///
/// `TEST_DATABASE_URL` names a server to use instead (nothing is started or stopped then).
struct TestPostgresServer: Sendable {
    /// `postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable`.
    let url: String
    private let directory: URL?
    private let bin: String?

    /// Why a server could not be started, with what it printed.
    struct StartFailure: Error, CustomStringConvertible {
        var description: String
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
                        "-o", "-p \(port) -k \(directory.path) -c listen_addresses=127.0.0.1 -c fsync=off", "start",
                    ]
                )
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

    func stop() {
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

/// Starts one PostgreSQL server for the suite it is attached to and stops it after; tests read
/// it from ``TestPostgresServer/current``.
struct WithPostgresServer: SuiteTrait, TestScoping {
    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        let server = try await offThePool { try TestPostgresServer.start() }
        do {
            try await TestPostgresServer.$current.withValue(server) { try await function() }
        } catch {
            _ = try? await offThePool { server.stop() }
            throw error
        }
        _ = try? await offThePool { server.stop() }
    }

    /// Runs `work` (which waits for initdb and pg_ctl, seconds) on a thread of its own: blocking
    /// one of the two cooperative threads of this machine starves the tests running beside it.
    private func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let result: Result<T, any Error> = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: Result { try work() }) }.start()
        }
        return try result.get()
    }
}

extension TestPostgresServer {
    @TaskLocal static var current: TestPostgresServer?
}

extension Trait where Self == WithPostgresServer {
    /// A PostgreSQL server for this suite.
    static var postgresServer: Self { WithPostgresServer() }
}
