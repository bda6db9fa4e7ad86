import Foundation
import Logging
import Storage
import Supervisor
#if canImport(Glibc)
import Glibc
#endif

/// The platform as order-bench hosts it: one `orderd run` with a generated configuration in a
/// temporary directory, on the embedded broker.
///
/// Lifecycle: ``launch(runId:logLevel:)`` spawns orderd and returns at once;
/// ``waitUntilReady(timeout:)`` waits for `READY=1` and reads the broker's address; ``stop()``
/// always ends orderd (SIGTERM, SIGKILL after 30 s) and must be called whatever happened.
final class HostedPlatform: Sendable {
    let configuration: PlatformConfiguration
    let orderd: SpawnedProcess
    private let notify: NotifySocket
    private let spawnedAt: ContinuousClock.Instant

    var directory: String { configuration.directory }
    var logPath: String { configuration.logPath }
    var api: APIEndpoint { apis[0] }
    /// Every order-service instance's API.
    var apis: [APIEndpoint] { configuration.apiPorts.map { APIEndpoint(host: "127.0.0.1", port: $0) } }

    private init(
        configuration: PlatformConfiguration,
        orderd: SpawnedProcess,
        notify: NotifySocket,
        spawnedAt: ContinuousClock.Instant
    ) {
        self.configuration = configuration
        self.orderd = orderd
        self.notify = notify
        self.spawnedAt = spawnedAt
    }

    /// Writes the configuration and spawns `orderd run` from the directory of this executable.
    /// `extraConfiguration` is appended to the generated file (TOML tables the generated text
    /// does not define, such as `[kafka]` for a broker the caller hosts).
    static func launch(
        runId: String,
        logLevel: Logger.Level,
        extraConfiguration: String = "",
        database: DatabaseURL? = nil,
        instances: Int = 1
    ) throws(BenchError) -> HostedPlatform {
        let binaries = try executableDirectory()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("order-bench-\(runId)").path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .platform("cannot create \(directory): \(error)", log: nil)
        }
        let configuration = try PlatformConfiguration(
            directory: directory,
            binaryDirectory: binaries,
            serviceLogLevel: logLevel,
            database: database,
            instances: instances
        )
        do {
            try (configuration.text + extraConfiguration).write(
                toFile: configuration.path,
                atomically: true,
                encoding: .utf8
            )
        } catch {
            throw .platform("cannot write \(configuration.path): \(error)", log: nil)
        }
        let notify = try NotifySocket.bind(path: "\(directory)/notify.sock")
        return try spawn(configuration, notify: notify)
    }

    /// A new `orderd run` on the same configuration, data directory and notify socket (after
    /// this one ended): what an operator's restart of orderd does.
    func respawn() throws(BenchError) -> HostedPlatform {
        try Self.spawn(configuration, notify: notify)
    }

    private static func spawn(
        _ configuration: PlatformConfiguration,
        notify: NotifySocket
    ) throws(BenchError) -> HostedPlatform {
        // No KAFKA_BROKERS (orderd must host the embedded broker) and our notify socket instead of
        // any systemd one. Other KAFKA_* properties reach every service through orderd, so a
        // setting can be tried as `KAFKA_LINGER_MS=0 order-bench …`.
        var environment = ProcessInfo.processInfo.environment.filter {
            $0.key != "KAFKA_BROKERS" && $0.key != "ORDERD_BIN_DIR"
        }
        environment["NOTIFY_SOCKET"] = notify.path
        let spawnedAt = ContinuousClock.now
        let orderd = try SpawnedProcess.spawn(
            "\(configuration.binaryDirectory)/orderd",
            ["run", "--config", configuration.path],
            environment: environment,
            output: configuration.logPath
        )
        return HostedPlatform(configuration: configuration, orderd: orderd, notify: notify, spawnedAt: spawnedAt)
    }

    /// Waits for `READY=1` (every service ready), then asks orderd's control API for the broker.
    /// - Returns: the time from spawning orderd to `READY=1`, and the embedded broker's address.
    func waitUntilReady(timeout: Duration) async throws(BenchError) -> (startup: Duration, broker: String) {
        let deadline = ContinuousClock.now + timeout
        while !notify.poll() {
            if let exit = orderd.exitStatus {
                throw .platform("orderd ended (\(exit)) before it was ready", log: logPath)
            }
            guard ContinuousClock.now < deadline, !Task.isCancelled else {
                throw .platform("orderd was not ready (no READY=1) within \(timeout)", log: logPath)
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        let readyAt = ContinuousClock.now
        let status: DaemonStatus
        do {
            status = try await ControlClient(socketPath: configuration.socketPath).status()
        } catch {
            throw .platform("orderd's control API did not answer: \(error)", log: logPath)
        }
        return (readyAt - spawnedAt, status.broker)
    }

    /// SIGTERM, then waits for orderd to stop its services and exit; SIGKILL after 30 s.
    /// - Returns: how orderd ended.
    func stop() async -> SpawnedProcess.Exit? {
        orderd.signal(SIGTERM)
        var exit = await orderd.waitForExit(timeout: .seconds(30))
        if exit == nil {
            printToStandardError("order-bench: orderd did not exit within 30 s of SIGTERM; sending SIGKILL")
            orderd.signal(SIGKILL)
            exit = await orderd.waitForExit(timeout: .seconds(5))
        }
        return exit
    }

    func removeDirectory() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The last lines of orderd's output, for an error message.
    func logTail(lines: Int = 30) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Where orderd and the services are: next to this executable (`/proc/self/exe`, so a
    /// symlink or a relative `argv[0]` does not matter).
    private static func executableDirectory() throws(BenchError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else {
            throw .platform("cannot resolve /proc/self/exe: \(String(cString: strerror(errno)))", log: nil)
        }
        let path = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (path as NSString).deletingLastPathComponent
    }
}
