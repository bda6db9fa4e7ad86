import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Storage
import Supervisor
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A real `orderd run` with its own configuration file, ephemeral ports, a temporary data
/// directory and socket, and (optionally) a notify socket standing in for systemd.
final class OrderdHarness: Sendable {
    let root: String
    let socketPath: String
    let apiPort: Int
    let metricsPort: Int
    let servicePorts: [String: Int]
    private let process: Locked<TestProcess?> = Locked(nil)
    let extraEnvironment: [String: String]
    /// `kafka.brokers`; nil for the embedded broker.
    let brokers: String?
    /// `defaults.probes.startup_budget`; nil for the default.
    let startupBudget: String?
    /// `database.url`; nil for SQLite.
    let database: DatabaseURL?
    /// `instances` of the services that have more than one.
    let instances: [String: Int]

    init(
        environment: [String: String] = [:],
        brokers: String? = nil,
        startupBudget: String? = nil,
        database: DatabaseURL? = nil,
        instances: [String: Int] = [:]
    ) throws {
        self.brokers = brokers
        self.startupBudget = startupBudget
        self.database = database
        self.instances = instances
        root =
            FileManager.default.temporaryDirectory.appendingPathComponent("orderd-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        socketPath = "\(root)/orderd.sock"
        apiPort = try freePort()
        metricsPort = try freePort()
        var ports: [String: Int] = [:]
        for service in Platform.services { ports[service] = try freePorts(instances[service] ?? 1) }
        servicePorts = ports
        extraEnvironment = environment
        try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    var configPath: String { "\(root)/orderd.toml" }
    var logPath: String { "\(root)/orderd.log" }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    var configuration: String {
        var text = """
            [orderd]
            socket_path = "\(socketPath)"
            metrics_host = "127.0.0.1"
            metrics_port = \(metricsPort)
            data_directory = "\(root)/data"
            binary_directory = "\(Platform.binaries)"
            stop_timeout = "20s"

            [defaults.probes]
            interval = "250ms"
            # The suites run in parallel on debug builds: a probe must not time out because the
            # machine is busy, or a service turns unhealthy (or is restarted) for no fault of its own.
            timeout = "5s"
            \(startupBudget.map { "startup_budget = \"\($0)\"" } ?? "")

            \(brokers.map { "[kafka]\nbrokers = \"\($0)\"\n" } ?? "")
            \(database.map { "[database]\nurl = \"\($0.connectionString)\"\n" } ?? "")
            """
        for service in Platform.services {
            text += """

                [services.\(service)]
                metrics_port = \(servicePorts[service]!)
                instances = \(instances[service] ?? 1)
                \(service == "order-service" ? "after = [\"payment-service\", \"inventory-service\", \"notification-service\"]" : "")

                [services.\(service).environment]
                METRICS_HOST = "127.0.0.1"
                KAFKA_SESSION_TIMEOUT_MS = "6000"
                KAFKA_HEARTBEAT_INTERVAL_MS = "1000"

                """
            if service == "order-service" {
                text += "PORT = \"\(apiPort)\"\nHOST = \"127.0.0.1\"\n"
            }
        }
        return text
    }

    func start() async throws {
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("KAFKA_") && $0.key != "NOTIFY_SOCKET"
        }
        environment.merge(extraEnvironment) { $1 }
        let process = try await TestProcess.launch(
            "\(Platform.binaries)/orderd",
            ["run", "--config", configPath],
            environment: environment,
            log: logPath
        )
        self.process.withLock { $0 = process }
    }

    var pid: Int32 { process.withLock { $0?.pid ?? 0 } }
    var isRunning: Bool { process.withLock { $0?.isRunning ?? false } }

    func waitForExit(timeout: Duration) async throws -> Int32 {
        let process = self.process.withLock { $0! }
        return try await process.waitForExit(timeout: timeout)
    }

    /// Runs the orderd CLI against this daemon's socket.
    func cli(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await TestProcess.run("\(Platform.binaries)/orderd", arguments + ["--socket", socketPath])
    }

    func status() async throws -> DaemonStatus? {
        let (code, output) = try await cli(["status", "--json"])
        guard code == 0 || code == 3 else { return nil }
        return try JSONDecoder().decode(DaemonStatus.self, from: Data(output.utf8))
    }

    /// Waits until `orderd status` reports every service ready, and returns that status: a later
    /// one may already differ (a probe that timed out on a loaded machine marks a service
    /// unhealthy until the next one passes).
    @discardableResult
    func waitUntilAllReady(timeout: Duration = .seconds(90)) async throws -> DaemonStatus {
        let ready = Mutex<DaemonStatus?>(nil)
        try await waitUntil(timeout: timeout, "all four services ready under orderd; log:\n\(log.suffix(3000))") {
            guard self.isRunning else { throw PlatformError("orderd exited: \(self.log.suffix(3000))") }
            guard let status = try await self.status(), status.allReady else { return false }
            ready.withLock { $0 = status }
            return true
        }
        return ready.withLock { $0! }
    }

    func request(_ method: HTTPMethod, port: Int, path: String, body: String? = nil) async throws -> Platform.Reply {
        try await httpRequest(method, url: "http://127.0.0.1:\(port)\(path)", body: body.map { Array($0.utf8) })
    }

    func waitForOrder(_ id: String, status expected: String, timeout: Duration = .seconds(30)) async throws {
        try await waitUntil(timeout: timeout, "order \(id) to be \(expected)") {
            let reply = try await self.request(.GET, port: self.apiPort, path: "/orders/\(id)")
            return reply.status == 200 && reply.body.contains("\"status\":\"\(expected)\"")
        }
    }

    deinit {
        process.withLock { $0?.signal(SIGKILL) }
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// The `socket:[inode]` entries among the open descriptors of process `pid`.
func openSockets(of pid: Int32) -> Set<String> {
    let directory = "/proc/\(pid)/fd"
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return Set(
        entries.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)") }
            .filter { $0.hasPrefix("socket:") }
    )
}

/// True while a process with this pid exists (and is not a zombie).
func isAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    return !stat.contains(") Z ")
}

/// A Unix datagram socket standing in for systemd's notify socket; collects every message.
final class NotifySocket: Sendable {
    let path: String
    private let fd: Int32
    let messages = Locked<[(at: ContinuousClock.Instant, text: String)]>([])

    /// The directory of the socket, created for it and removed with it.
    private let directory: String

    /// A socket in a new temporary directory named after `prefix`.
    init(prefix: String) throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "\(prefix)-\(UUID().uuidString.prefix(8))"
            ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = "\(directory)/notify.sock"
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        fd = descriptor
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw PlatformError("cannot bind \(path)") }
        let fd = descriptor
        let messages = self.messages
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                guard count > 0 else { return }
                let text = String(decoding: buffer[0..<count], as: UTF8.self)
                messages.withLock { $0.append((ContinuousClock.now, text)) }
            }
        }
    }

    func all() -> [(at: ContinuousClock.Instant, text: String)] { messages.withLock { $0 } }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension DaemonStatus {
    func row(_ name: String) -> ServiceStatus? { services.first { $0.name == name } }
}
