import AsyncHTTPClient
import Foundation
import Kafka
import NIOCore
import NIOHTTP1
import OrderEvents
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The four real service executables on an embedded broker, on ephemeral ports, with their
/// databases in a temporary directory. Children get `ORDERD_PID` set to this process, so they
/// die with the test run even if it is killed.
final class Platform: Sendable {
    static let services = ["order-service", "payment-service", "inventory-service", "notification-service"]

    let cluster: EmbeddedKafkaCluster
    let root: String
    let apiPort: Int
    let metricsPorts: [String: Int]
    let environment: [String: String]
    private let processes = Mutex<[String: TestProcess]>([:])

    var http: HTTPClient { HTTPClient.shared }

    private init(
        cluster: EmbeddedKafkaCluster,
        root: String,
        apiPort: Int,
        metricsPorts: [String: Int],
        environment: [String: String]
    ) {
        self.cluster = cluster
        self.root = root
        self.apiPort = apiPort
        self.metricsPorts = metricsPorts
        self.environment = environment
    }

    /// Starts the broker and the four services and waits until every one is ready.
    static func start(environment extra: [String: String] = [:]) async throws -> Platform {
        let cluster = try EmbeddedKafkaCluster(
            topics: Topics.defaults.allWithDeadLetters.map { TopicSpecification(name: $0, partitions: 3) }
        )
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var ports: [String: Int] = [:]
        for service in services { ports[service] = try freePort() }
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("KAFKA_") }
        environment["KAFKA_BROKERS"] = cluster.bootstrapServers
        environment["ORDERD_PID"] = String(getpid())
        environment["KAFKA_SESSION_TIMEOUT_MS"] = "6000"
        environment["KAFKA_HEARTBEAT_INTERVAL_MS"] = "1000"
        environment["METRICS_HOST"] = "127.0.0.1"
        environment["HOST"] = "127.0.0.1"
        environment.merge(extra) { $1 }
        let platform = Platform(
            cluster: cluster,
            root: root,
            apiPort: try freePort(),
            metricsPorts: ports,
            environment: environment
        )
        for service in services { try await platform.launch(service) }
        for service in services { try await platform.waitUntilReady(service) }
        return platform
    }

    /// The directory holding the service executables: next to the test bundle, or `ORDER_PLATFORM_BIN`.
    static var binaries: String {
        if let explicit = ProcessInfo.processInfo.environment["ORDER_PLATFORM_BIN"] { return explicit }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        while directory.pathExtension == "xctest" || directory.lastPathComponent == "Contents"
            || directory.lastPathComponent == "MacOS"
        {
            directory.deleteLastPathComponent()
        }
        return directory.path
    }

    func logPath(_ service: String) -> String { "\(root)/\(service).log" }

    func log(_ service: String) -> String {
        (try? String(contentsOfFile: logPath(service), encoding: .utf8)) ?? ""
    }

    func launch(_ service: String) async throws {
        var environment = self.environment
        environment["DATA_DIR"] = "\(root)/\(service)"
        environment["METRICS_PORT"] = String(metricsPorts[service]!)
        if service == "order-service" { environment["PORT"] = String(apiPort) }
        let process = try await TestProcess.launch(
            "\(Self.binaries)/\(service)",
            environment: environment,
            log: logPath(service)
        )
        processes.withLock { $0[service] = process }
    }

    func pid(_ service: String) -> Int32? {
        processes.withLock { $0[service]?.pid }
    }

    func isRunning(_ service: String) -> Bool {
        processes.withLock { $0[service]?.isRunning ?? false }
    }

    func signal(_ service: String, _ number: Int32) {
        if let pid = pid(service) { Glibc.kill(pid, number) }
    }

    /// Waits until the process has exited and returns its status.
    func waitForExit(_ service: String, timeout: Duration) async throws -> Int32 {
        let process = processes.withLock { $0[service]! }
        return try await process.waitForExit(timeout: timeout)
    }

    func waitUntilReady(_ service: String, timeout: Duration = .seconds(60)) async throws {
        try await waitUntil(timeout: timeout, "\(service) to be ready; log:\n\(log(service).suffix(2000))") {
            guard self.isRunning(service) else {
                throw PlatformError("\(service) exited: \(self.log(service).suffix(3000))")
            }
            return (try? await self.request(.GET, port: self.metricsPorts[service]!, path: "/ready").status) == 200
        }
    }

    /// SIGTERM to every service; returns each exit status.
    func stop(timeout: Duration = .seconds(20)) async throws -> [String: Int32] {
        for service in Self.services { signal(service, SIGTERM) }
        var statuses: [String: Int32] = [:]
        for service in Self.services { statuses[service] = try await waitForExit(service, timeout: timeout) }
        return statuses
    }

    func killHard(_ service: String) {
        signal(service, SIGKILL)
    }

    deinit {
        processes.withLock { processes in
            for process in processes.values { process.signal(SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: HTTP

    struct Reply: Sendable {
        var status: UInt
        var headers: [String: String]
        var body: String

        func json() throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] ?? [:]
        }
    }

    func request(
        _ method: HTTPMethod,
        port: Int,
        path: String,
        body: String? = nil,
        bytes: [UInt8]? = nil,
        contentType: String? = "application/json"
    ) async throws -> Reply {
        try await httpRequest(
            method,
            url: "http://127.0.0.1:\(port)\(path)",
            body: bytes ?? body.map { Array($0.utf8) },
            contentType: contentType
        )
    }

    func post(_ body: String, path: String = "/order") async throws -> Reply {
        try await request(.POST, port: apiPort, path: path, body: body)
    }

    func order(_ id: String) async throws -> OrderSnapshot? {
        let reply = try await request(.GET, port: apiPort, path: "/orders/\(id)")
        return reply.status == 200 ? try JSONDecoder().decode(OrderSnapshot.self, from: Data(reply.body.utf8)) : nil
    }

    /// Waits until the order reaches COMPLETED or CANCELLED and returns it.
    func terminalOrder(_ id: String, timeout: Duration = .seconds(30)) async throws -> OrderSnapshot {
        let found = Locked<OrderSnapshot?>(nil)
        try await waitUntil(timeout: timeout, "order \(id) to finish") {
            guard let order = try await self.order(id), order.isTerminal else { return false }
            found.withLock { $0 = order }
            return true
        }
        return found.withLock { $0! }
    }

    func metrics(_ service: String) async throws -> String {
        try await request(.GET, port: metricsPorts[service]!, path: "/metrics").body
    }

    /// Reads `topic` from the beginning with a fresh consumer group until `done` holds.
    func read(
        _ topic: String,
        timeout: Duration = .seconds(60),
        until done: @escaping @Sendable ([KafkaMessage]) -> Bool
    ) async throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(
            configuration: KafkaClientConfiguration(
                bootstrapServers: cluster.bootstrapServers,
                clientId: "e2e-reader",
                statisticsInterval: nil
            ),
            groupId: "e2e-\(UUID().uuidString)",
            topics: [topic],
            logger: .init(label: "e2e")
        )
        let seen = Locked<[KafkaMessage]>([])
        let reader = Task {
            for await message in consumer.messages {
                seen.withLock { seen in seen.append(message) }
            }
        }
        defer { reader.cancel() }
        try await withRunningClients(consumer) {
            try await waitUntil(timeout: timeout, "\(topic) to hold what the test expects") {
                done(seen.withLock { $0 })
            }
        }
        return seen.withLock { $0 }
    }
}

/// An order as `GET /orders/{id}` answers it.
struct OrderSnapshot: Decodable, Sendable {
    struct Step: Decodable, Sendable { var status: String }
    var orderId: String
    var status: String
    var reason: String?
    var amount: Decimal
    var currency: String
    var refunded: Bool
    var history: [Step]

    var isTerminal: Bool { status == "COMPLETED" || status == "CANCELLED" }
    var statuses: [String] { history.map(\.status) }
}

/// A mutex-protected value shared by reference between tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T: Sendable>(_ body: (inout Value) throws -> T) rethrows -> T {
        try mutex.withLock { try body(&$0) }
    }
}

/// One HTTP exchange with a local test server.
func httpRequest(
    _ method: HTTPMethod,
    url: String,
    body: [UInt8]? = nil,
    contentType: String? = "application/json"
) async throws -> Platform.Reply {
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
    if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let buffer = try await response.body.collect(upTo: 16 * 1024 * 1024)
    var headers: [String: String] = [:]
    for header in response.headers { headers[header.name.lowercased()] = header.value }
    return Platform.Reply(status: response.status.code, headers: headers, body: String(buffer: buffer))
}

struct PlatformError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 50 ms until it holds; fails with `what` after `timeout`.
func waitUntil(
    timeout: Duration,
    _ what: @autoclosure () -> String,
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            throw PlatformError("timed out after \(timeout) waiting for \(what())")
        }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// The next port ``freePort()`` tries; ports count up through 20000–26999, below the kernel's
/// ephemeral range (32768–60999 by default).
private let nextFreePort = Mutex(20_000 + Int(getpid() % 3_000))

/// An unused TCP port on 127.0.0.1, each handed out once per test run.
///
/// Not `bind(0)`: a port the kernel picks and the test releases again can meanwhile become another
/// test's pick, or the source port of one of the many loopback connections the tests and orderd
/// make, before the child binds it ("Address already in use"). Ports below the ephemeral range are
/// never a source port, and the counter never hands one out twice in a run.
func freePort() throws -> Int {
    for _ in 0..<7_000 {
        let port = nextFreePort.withLock { next in
            defer { next = next >= 26_999 ? 20_000 : next + 1 }
            return next
        }
        if canBind(port: port) { return port }
    }
    throw PlatformError("no free TCP port on 127.0.0.1 in 20000-26999")
}

/// The first of `count` consecutive free ports (for a service's instances).
func freePorts(_ count: Int) throws -> Int {
    for _ in 0..<1_000 {
        let first = try freePort()
        var next = first
        while next - first + 1 < count, try freePort() == next + 1 { next += 1 }
        if next - first + 1 == count { return first }
    }
    throw PlatformError("no \(count) consecutive free TCP ports on 127.0.0.1")
}

private func canBind(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}
