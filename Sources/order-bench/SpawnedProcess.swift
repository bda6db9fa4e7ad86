import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, its stdout and stderr appended to a file.
///
/// Reaped by pid only (`waitpid(pid, WNOHANG)`), never by a wildcard wait, so it cannot steal
/// the exit of another child. Thread-safe.
final class SpawnedProcess: Sendable {
    /// How a process ended.
    enum Exit: Sendable, Hashable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)

        var description: String {
            switch self {
            case .exited(let code): "exit status \(code)"
            case .signalled(let signal): "signal \(signal)"
            }
        }
    }

    let pid: pid_t
    private let exit = Mutex<Exit?>(nil)

    private init(pid: pid_t) {
        self.pid = pid
    }

    static func spawn(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String],
        output: String
    ) throws(BenchError) -> SpawnedProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard result == 0 else {
            throw .platform("cannot start \(executable): \(String(cString: strerror(result)))", log: nil)
        }
        return SpawnedProcess(pid: pid)
    }

    /// How it ended, or nil while it runs. Reaps it the first time it is seen to have ended.
    var exitStatus: Exit? {
        exit.withLock { exit in
            if exit != nil { return exit }
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
            // WIFEXITED / WTERMSIG are macros Swift does not import.
            let signal = status & 0x7f
            exit = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
            return exit
        }
    }

    func signal(_ number: Int32) {
        if exitStatus == nil { kill(pid, number) }
    }

    /// Waits until it has ended, at most `timeout`.
    /// - Returns: nil when it still runs.
    func waitForExit(timeout: Duration) async -> Exit? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let exit = exitStatus { return exit }
            // Stopping the platform must finish even in a cancelled task, where Task.sleep
            // returns at once: there, block this thread briefly rather than spin.
            if Task.isCancelled {
                usleep(50_000)
            } else {
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        return exitStatus
    }
}
