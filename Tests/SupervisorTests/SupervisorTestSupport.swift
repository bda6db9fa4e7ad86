import Foundation
import Logging
import Supervisor
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// One `[services.<name>]` entry running `supervisor-fixture`.
struct FixtureService: Sendable {
    var name: String
    /// `[services.<name>.environment]` (FIXTURE_STARTS_FILE is always added); `$DIR` in a
    /// value stands for the harness's temporary directory.
    var environment: [String: String] = [:]
    /// Extra `key = value` lines for the service table (restart, start_limit_burst, …).
    var settings: [String] = []
    /// Extra `key = value` lines for `[services.<name>.probes]`.
    var probes: [String] = []
}

/// A condition that did not hold before its deadline.
struct DeadlineExceeded: Error, CustomStringConvertible {
    var what: String
    var last: String
    var description: String { "timed out waiting for \(what); last seen: \(last)" }
}

/// A real in-process ``Supervisor`` over `supervisor-fixture` children, in a temporary
/// directory, with short timings. Use ``SupervisionHarness/run(_:_:)`` so that every path stops
/// the children.
final class SupervisionHarness: Sendable {
    let directory: String
    let ports: [String: Int]
    let supervisor: Supervisor
    let configuration: SupervisorConfiguration

    /// Where `supervisor-fixture` was built: `ORDER_PLATFORM_BIN`, else next to the test binary.
    static var binaryDirectory: String {
        if let explicit = ProcessInfo.processInfo.environment["ORDER_PLATFORM_BIN"], !explicit.isEmpty {
            return explicit
        }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        while directory.pathExtension == "xctest" || directory.lastPathComponent == "Contents"
            || directory.lastPathComponent == "MacOS"
        {
            directory.deleteLastPathComponent()
        }
        return directory.path
    }

    init(_ services: [FixtureService]) throws {
        let binaries = Self.binaryDirectory
        try #require(
            FileManager.default.isExecutableFile(atPath: binaries + "/supervisor-fixture"),
            "supervisor-fixture not built in \(binaries) (set ORDER_PLATFORM_BIN)"
        )
        let directory = "/tmp/orderd-proc-" + String(UUID().uuidString.prefix(8)).lowercased()
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var ports: [String: Int] = [:]
        var used: Set<Int> = []
        for service in services {
            var port = try Self.freePort()
            while used.contains(port) { port = try Self.freePort() }
            used.insert(port)
            ports[service.name] = port
        }
        var orderdPort = try Self.freePort()
        while used.contains(orderdPort) { orderdPort = try Self.freePort() }
        self.ports = ports

        var toml = """
            [orderd]
            data_directory = "\(directory)/data"
            socket_path = "\(directory)/orderd.sock"
            metrics_host = "127.0.0.1"
            metrics_port = \(orderdPort)

            [kafka]
            brokers = "127.0.0.1:1"

            """
        for service in services {
            var environment = service.environment.mapValues { $0.replacingOccurrences(of: "$DIR", with: directory) }
            environment["FIXTURE_STARTS_FILE"] = "\(directory)/\(service.name).starts"
            toml += """

                [services.\(service.name)]
                executable = "supervisor-fixture"
                metrics_port = \(ports[service.name]!)
                backoff_initial = "100ms"
                \(service.settings.contains { $0.hasPrefix("stop_timeout") } ? "" : #"stop_timeout = "1s""#)
                \(service.settings.joined(separator: "\n"))

                [services.\(service.name).probes]
                \(Self.probeSettings(service.probes).joined(separator: "\n"))

                [services.\(service.name).environment]
                \(environment.sorted { $0.key < $1.key }.map { "\($0.key) = \"\($0.value)\"" }.joined(separator: "\n"))

                """
        }
        configuration = try SupervisorConfiguration.parse(
            toml,
            source: "test.toml",
            environment: [:],
            executableDirectory: binaries
        )
        var logger = Logger(label: "orderd-test")
        logger.logLevel = .info
        supervisor = Supervisor(
            configuration: configuration,
            brokers: "127.0.0.1:1",
            embeddedBroker: false,
            logger: logger
        )
    }

    /// Short probe timings, each unless `overrides` (`key = value` lines) sets it, then `overrides`.
    static func probeSettings(_ overrides: [String]) -> [String] {
        let defaults = [#"interval = "100ms""#, #"timeout = "500ms""#, #"startup_budget = "5s""#]
        func key(_ line: String) -> String { line.split(separator: "=")[0].trimmingCharacters(in: .whitespaces) }
        let overridden = Set(overrides.map(key))
        return defaults.filter { !overridden.contains(key($0)) } + overrides
    }

    /// Starts every service (``Supervisor/startAll()`` runs beside `body`, as in orderd's
    /// supervision loop), runs `body`, and stops everything whatever `body` does.
    static func run(_ services: [FixtureService], _ body: (SupervisionHarness) async throws -> Void) async throws {
        let harness = try SupervisionHarness(services)
        async let starting: Void = harness.supervisor.startAll()
        do {
            try await body(harness)
        } catch {
            await harness.shutdown()
            await starting
            throw error
        }
        await harness.shutdown()
        // stopAll ends a start still waiting for a dependency.
        await starting
    }

    /// `stopAll`, then SIGKILL for anything a bug may have left behind, then the directory goes.
    func shutdown() async {
        await supervisor.stopAll(budget: .seconds(5))
        for name in ports.keys {
            for start in starts(name) where !Self.isGone(start.pid) { kill(start.pid, SIGKILL) }
        }
        if let files = try? FileManager.default.contentsOfDirectory(atPath: directory) {
            for file in files where file.hasSuffix(".pid") {
                if let pid = Self.readPid("\(directory)/\(file)"), !Self.isGone(pid) { kill(pid, SIGKILL) }
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: Observing

    func path(_ file: String) -> String { "\(directory)/\(file)" }

    func status(_ name: String) async throws -> ServiceStatus {
        try #require(await supervisor.status().services.first { $0.name == name })
    }

    /// Polls `status()` every 25 ms until `condition` holds; throws after `timeout`.
    @discardableResult
    func waitFor(
        _ what: String,
        timeout: Duration = .seconds(10),
        _ condition: (DaemonStatus) throws -> Bool
    ) async throws -> DaemonStatus {
        let deadline = ContinuousClock.now + timeout
        while true {
            let status = await supervisor.status()
            if try condition(status) { return status }
            guard ContinuousClock.now < deadline else {
                throw DeadlineExceeded(what: what, last: Self.describe(status))
            }
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    /// Waits until service `name` satisfies `condition`.
    @discardableResult
    func waitFor(
        _ name: String,
        _ what: String,
        timeout: Duration = .seconds(10),
        _ condition: @escaping (ServiceStatus) -> Bool
    ) async throws -> ServiceStatus {
        let status = try await waitFor("\(name) \(what)", timeout: timeout) { status in
            status.services.first { $0.name == name }.map(condition) ?? false
        }
        return status.services.first { $0.name == name }!
    }

    /// True when `condition` holds at every poll (every 25 ms) for `window`; false at the first
    /// poll where it does not.
    func holds(for window: Duration, _ condition: (DaemonStatus) throws -> Bool) async throws -> Bool {
        let end = ContinuousClock.now + window
        while ContinuousClock.now < end {
            if try !condition(await supervisor.status()) { return false }
            try await Task.sleep(for: .milliseconds(25))
        }
        return try condition(await supervisor.status())
    }

    static func describe(_ status: DaemonStatus) -> String {
        status.services.map {
            "\($0.name): \($0.state.rawValue) pid=\($0.pid.map(String.init) ?? "-") restarts=\($0.restarts) lastExit=\($0.lastExit ?? "-") note=\($0.note ?? "-")"
        }.joined(separator: "; ")
    }

    /// The lines the fixture appended at each start: pid and wall-clock time.
    func starts(_ name: String) -> [(pid: Int32, time: Double)] {
        guard let text = try? String(contentsOfFile: path("\(name).starts"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let pid = Int32(parts[0]), let time = Double(parts[1]) else { return nil }
            return (pid, time)
        }
    }

    // MARK: Talking to a fixture

    /// `POST <path>` to service `name`'s metrics port; the HTTP status, or nil when the
    /// connection failed or closed without an answer (as `/crash` does).
    @discardableResult
    func post(_ name: String, _ path: String) -> Int? {
        Self.post(port: ports[name]!, path: path)
    }

    static func post(port: Int, path: String) -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        let request = Array(
            "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8
        )
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count
        else { return nil }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while !response.contains(UInt8(ascii: "\n")) {
            let count = read(fd, &buffer, buffer.count)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            response += buffer[0..<count]
        }
        // "HTTP/1.1 200 OK"
        let words = String(decoding: response, as: UTF8.self).split(separator: " ")
        return words.count >= 2 ? Int(words[1]) : nil
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// A port that was free a moment ago (bound to 127.0.0.1:0, then released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(bound == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        try #require(named == 0)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    // MARK: Processes

    static func readPid(_ path: String) -> Int32? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap {
            Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// True when `pid` no longer runs: `kill(pid, 0)` fails with ESRCH, or it is a zombie
    /// (killed, re-parented to an init that has not reaped it yet).
    static func isGone(_ pid: Int32) -> Bool {
        if kill(pid, 0) != 0 { return errno == ESRCH }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        // "<pid> (<comm>) <state> …"
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first == "Z"
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes.
    static func eventually(timeout: Duration, _ condition: () throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if try condition() { return true }
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
