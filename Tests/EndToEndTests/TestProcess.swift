import Foundation
import Supervisor
#if canImport(Glibc)
import Glibc
#endif

/// A process the tests start, with its output appended to a log file.
///
/// Started through orderd's own ``ChildProcesses`` (a pidfd per child, reaped by pid), not
/// Foundation's `Process`, whose termination monitoring can miss a death when many processes
/// come and go (swift-corelibs-foundation #4795) — which would make a test wait forever.
final class TestProcess: Sendable {
    let pid: Int32
    private let status: Locked<ExitStatus?>
    /// True once everything the process (and its descendants) wrote is in the log.
    private let outputClosed: Locked<Bool>

    private init(pid: Int32, status: Locked<ExitStatus?>, outputClosed: Locked<Bool>) {
        self.pid = pid
        self.status = status
        self.outputClosed = outputClosed
    }

    static func launch(
        _ executable: String,
        _ arguments: [String] = [],
        environment: [String: String],
        log: String
    ) async throws -> TestProcess {
        if !FileManager.default.fileExists(atPath: log) {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
        }
        let status = Locked<ExitStatus?>(nil)
        let spawned = try await ChildProcesses.shared().spawn(
            SpawnRequest(executable: executable, arguments: arguments, environment: environment, workingDirectory: nil)
        ) { exit in status.withLock { $0 = exit } }
        let destination = open(log, O_WRONLY | O_APPEND | O_CLOEXEC)
        let outputClosed = Locked(false)
        Thread.detachNewThread {
            OutputForwarder.forward(fd: spawned.output, prefix: [], destination: destination)
            close(destination)
            outputClosed.withLock { $0 = true }
        }
        return TestProcess(pid: spawned.pid, status: status, outputClosed: outputClosed)
    }

    var isRunning: Bool { status.withLock { $0 == nil } }

    /// The exit code, or 128 + signal like a shell.
    var terminationStatus: Int32? {
        status.withLock { status in
            switch status {
            case .exited(let code): code
            case .signalled(let signal): 128 + signal
            case nil: nil
            }
        }
    }

    func signal(_ number: Int32) {
        if isRunning { kill(pid, number) }
    }

    func waitForExit(timeout: Duration) async throws -> Int32 {
        try await waitUntil(timeout: timeout, "process \(pid) to exit") { !self.isRunning }
        return terminationStatus!
    }

    /// Runs a command to completion and returns its exit code and output; `environment` defaults
    /// to the test's own.
    static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        timeout: Duration = .seconds(60)
    ) async throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("cmd-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let process = try await launch(
            executable,
            arguments,
            environment: environment,
            log: log
        )
        let code = try await process.waitForExit(timeout: timeout)
        try await waitUntil(timeout: .seconds(5), "the output of \(executable) to end") {
            process.outputClosed.withLock { $0 }
        }
        return (code, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }
}
