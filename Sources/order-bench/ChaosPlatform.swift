@_spi(Testing) import Kafka
import Logging
import NIOCore
import NIOPosix
import OrderEvents
import Supervisor
import Synchronization

/// The platform of one chaos row: an embedded broker in order-bench's own process, so it
/// outlives orderd and can be taken down (its fault injection), and `orderd run` on it, which
/// may be replaced by a new one (after SIGTERM or SIGKILL) on the same configuration and data.
///
/// Thread-safe: the current orderd is behind a lock; every method may be called from any task.
final class ChaosPlatform: Sendable {
    /// The mock cluster's first (only) broker.
    static let brokerId: Int32 = 1

    let cluster: EmbeddedKafkaCluster
    private let current: Mutex<HostedPlatform>
    let control: ControlClient

    var orderd: HostedPlatform { current.withLock { $0 } }
    var brokers: String { cluster.bootstrapServers }
    var api: APIEndpoint { orderd.api }

    private init(cluster: EmbeddedKafkaCluster, orderd: HostedPlatform) {
        self.cluster = cluster
        self.current = Mutex(orderd)
        self.control = ControlClient(socketPath: orderd.configuration.socketPath)
    }

    /// Starts the broker with every topic, then orderd pointed at it (`kafka.brokers`) with the
    /// client settings the mock needs (`[kafka.properties]`, the same list orderd would pass).
    static func launch(runId: String, logLevel: Logger.Level) throws(BenchError) -> ChaosPlatform {
        let cluster: EmbeddedKafkaCluster
        do {
            cluster = try EmbeddedKafkaCluster(
                topics: Topics.defaults.allWithDeadLetters.map {
                    TopicSpecification(name: $0, partitions: 3, replicationFactor: 1)
                }
            )
        } catch {
            throw .kafka("cannot start the embedded broker: \(error)")
        }
        var extra = "\n[kafka]\nbrokers = \"\(cluster.bootstrapServers)\"\n\n[kafka.properties]\n"
        for property in EmbeddedKafkaCluster.lowLatencyProperties {
            extra += "\"\(property.name)\" = \"\(property.value)\"\n"
        }
        let orderd = try HostedPlatform.launch(runId: runId, logLevel: logLevel, extraConfiguration: extra)
        return ChaosPlatform(cluster: cluster, orderd: orderd)
    }

    /// Starts a new orderd once the current one has ended, as systemd's `Restart=` would: a new
    /// orderd that exits before `READY=1` is started again after 500 ms, until one is ready or
    /// `timeout` has passed.
    /// - Returns: the time from `strike` to `READY=1` (nil when none was ready in time) and the
    ///   distinct reasons of the starts that ended early (orderd's last critical line).
    func restartOrderd(
        after strike: ContinuousClock.Instant,
        timeout: Duration = .seconds(120)
    ) async -> (
        ready: Duration?, refusals: [String]
    ) {
        let deadline = ContinuousClock.now + timeout
        var refusals: [String] = []
        while ContinuousClock.now < deadline, !Task.isCancelled {
            let logged = log().utf8.count
            do {
                let next = try orderd.respawn()
                current.withLock { $0 = next }
                _ = try await next.waitUntilReady(timeout: deadline - ContinuousClock.now)
                return (ContinuousClock.now - strike, refusals)
            } catch {
                guard orderd.orderd.exitStatus != nil else { return (nil, refusals + ["\(error)"]) }
                let reason =
                    String(decoding: log().utf8.dropFirst(logged), as: UTF8.self).split(separator: "\n")
                    .last { $0.contains("critical orderd:") }
                    .map { String($0.split(separator: "orderd: ", maxSplits: 1).last ?? $0) } ?? "\(error)"
                refusals.append(reason)
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        return (nil, refusals)
    }

    /// orderd's output so far, every orderd of the row (they append to one file).
    private func log() -> String {
        (try? String(contentsOfFile: orderd.logPath, encoding: .utf8)) ?? ""
    }

    func setBroker(up: Bool) throws(BenchError) {
        do {
            try cluster.setBroker(Self.brokerId, up: up)
        } catch {
            throw .kafka("cannot take the broker \(up ? "up" : "down"): \(error)")
        }
    }

    /// orderd's view, or nil while it does not answer (being replaced, busy).
    func status() async -> DaemonStatus? {
        try? await control.status()
    }

    func service(_ name: String) async -> ServiceStatus? {
        await status()?.services.first { $0.name == name }
    }

    /// Waits until every service is ready and `replacing` (a service and the pid that was
    /// killed) runs as a new process.
    /// - Returns: the time from `instant`, or nil when that did not happen within `timeout`.
    func awaitReady(
        after instant: ContinuousClock.Instant,
        replacing: (service: String, pid: Int32)? = nil,
        timeout: Duration = .seconds(120)
    ) async -> Duration? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, !Task.isCancelled {
            if let status = await status(), status.allReady {
                let replaced = replacing.map { replacing in
                    status.services.first { $0.name == replacing.service }?.pid != replacing.pid
                }
                if replaced ?? true { return ContinuousClock.now - instant }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// A gauge or counter of a service's own `/metrics`, summed over its labelled series, or nil
    /// when it cannot be read.
    func metric(_ name: String, of service: String) async -> Double? {
        guard let port = orderd.configuration.servicePorts[service] else { return nil }
        let endpoint = APIEndpoint(host: "127.0.0.1", port: port)
        guard
            let connection = try? await HTTPConnection.connect(to: endpoint, on: MultiThreadedEventLoopGroup.singleton)
        else { return nil }
        let reply = try? await connection.send(.GET, "/metrics", collectBody: true, timeout: .seconds(2))
        await connection.close()
        guard let reply, reply.status == 200, let body = reply.body else { return nil }
        let text = String(buffer: body)
        let values = text.split(separator: "\n")
            .filter { $0.hasPrefix(name + " ") || $0.hasPrefix(name + "{") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        return values.isEmpty ? nil : values.reduce(0, +)
    }
}
