import CProcessControl
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Spawns children and detects every exit, so no death is ever missed.
///
/// - Spawning happens on one long-lived thread: a child's parent-death signal
///   (PR_SET_PDEATHSIG) fires when the *thread* that forked it exits, so children must never be
///   forked from a pool thread that may retire.
/// - Each child leads its own session and process group (POSIX_SPAWN_SETSID), so a stop signals
///   the child and every grandchild together, including grandchildren in process groups of their
///   own (Foundation's `Process` puts its children in a new group) and orphans of a dead child.
/// - Exits are detected with a pidfd per child, polled by a dedicated reaper thread, and reaped
///   with `waitpid(pid)` for exactly that pid (other code in the process that owns children,
///   such as Foundation's `Process`, is left alone). With `adoptOrphans` the process becomes a
///   child subreaper and also reaps re-parented grandchildren, as orderd does.
/// - An exit is delivered to the handler registered at spawn, on the reaper thread.
///
/// `@unchecked Sendable`, and safe: `children` and `requests`, the only state that changes
/// after `init`, are read and written only while holding `condition`; `wakeup` is written once
/// in `init` (before either thread starts) and only read afterwards; `adoptOrphans` is a `let`.
/// Exit handlers are `@Sendable` and called outside the lock.
public final class ChildProcesses: @unchecked Sendable {
    /// Called once, on the reaper thread, with the child's exit status.
    public typealias ExitHandler = @Sendable (ExitStatus) -> Void

    private struct Child {
        var pidfd: Int32
        var onExit: ExitHandler
    }

    private let condition = NSCondition()
    private var children: [Int32: Child] = [:]
    private var requests: [(SpawnRequest, ExitHandler, (Result<SpawnedProcess, SpawnError>) -> Void)] = []
    private let adoptOrphans: Bool
    private var wakeup: [Int32] = [-1, -1]

    /// The process-wide instance. `adoptOrphans` only takes effect on first use.
    public static func shared(adoptOrphans: Bool = false) -> ChildProcesses {
        sharedLock.lock()
        defer { sharedLock.unlock() }
        if let instance = sharedInstance { return instance }
        let instance = ChildProcesses(adoptOrphans: adoptOrphans)
        sharedInstance = instance
        return instance
    }

    /// Read and written only while holding `sharedLock`.
    nonisolated(unsafe) private static var sharedInstance: ChildProcesses?
    private static let sharedLock = NSLock()

    private init(adoptOrphans: Bool) {
        self.adoptOrphans = adoptOrphans
        if adoptOrphans { _ = cprocesscontrol_set_child_subreaper() }
        _ = cprocesscontrol_pipe_cloexec(&wakeup, O_NONBLOCK)
        let spawner = Thread { [unowned self] in self.spawnLoop() }
        spawner.name = "orderd-spawner"
        spawner.start()
        let reaper = Thread { [unowned self] in self.reapLoop() }
        reaper.name = "orderd-reaper"
        reaper.start()
    }

    /// Spawns `request` on the spawner thread; `onExit` is called once when it exits.
    public func spawn(_ request: SpawnRequest, onExit: @escaping ExitHandler) async throws(SpawnError) -> SpawnedProcess
    {
        let result: Result<SpawnedProcess, SpawnError> = await withCheckedContinuation { continuation in
            condition.lock()
            requests.append((request, onExit, { continuation.resume(returning: $0) }))
            condition.broadcast()
            condition.unlock()
        }
        return try result.get()
    }

    private func spawnLoop() {
        while true {
            condition.lock()
            while requests.isEmpty { condition.wait() }
            let (request, onExit, completion) = requests.removeFirst()
            let result = Self.spawnNow(request)
            if case .success(let process) = result {
                // A pidfd of a child that already exited is still readable (it is a zombie
                // until reaped), so nothing is missed between spawn and registration.
                let pidfd = cprocesscontrol_pidfd_open(process.pid)
                children[process.pid] = Child(pidfd: pidfd, onExit: onExit)
                var byte: UInt8 = 1
                _ = write(wakeup[1], &byte, 1)
            }
            condition.unlock()
            completion(result)
        }
    }

    private func reapLoop() {
        while true {
            condition.lock()
            var fds = [pollfd(fd: wakeup[0], events: Int16(POLLIN), revents: 0)]
            let watched = children.map { ($0.key, $0.value.pidfd) }
            fds += watched.filter { $0.1 >= 0 }.map { pollfd(fd: $0.1, events: Int16(POLLIN), revents: 0) }
            condition.unlock()
            // Children without a pidfd (old kernels) are polled with WNOHANG every 100 ms.
            let timeout: Int32 = watched.contains { $0.1 < 0 } || adoptOrphans ? 100 : 1000
            _ = poll(&fds, nfds_t(fds.count), timeout)
            if fds[0].revents != 0 {
                var buffer = [UInt8](repeating: 0, count: 64)
                while read(wakeup[0], &buffer, buffer.count) > 0 {}
            }
            for (pid, _) in watched {
                var status: Int32 = 0
                guard waitpid(pid, &status, WNOHANG) == pid else { continue }
                deliver(pid: pid, status: status)
            }
            if adoptOrphans {
                // Re-parented grandchildren (and anything else) exit here.
                var status: Int32 = 0
                while case let pid = waitpid(-1, &status, WNOHANG), pid > 0 {
                    deliver(pid: pid, status: status)
                }
            }
        }
    }

    private func deliver(pid: Int32, status: Int32) {
        condition.lock()
        let child = children.removeValue(forKey: pid)
        condition.unlock()
        guard let child else { return }
        if child.pidfd >= 0 { close(child.pidfd) }
        child.onExit(Self.exitStatus(status))
    }

    static func exitStatus(_ status: Int32) -> ExitStatus {
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as macros.
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    /// POSIX_SPAWN_SETSID (glibc 2.26+), which glibc declares only under _GNU_SOURCE.
    /// (Not combined with POSIX_SPAWN_SETPGROUP: setpgid fails for a session leader.)
    static let spawnSetSID: Int32 = 0x80

    /// `posix_spawn` with a new session and stdout/stderr on one pipe.
    private static func spawnNow(_ request: SpawnRequest) -> Result<SpawnedProcess, SpawnError> {
        var pipeFDs: [Int32] = [0, 0]
        guard cprocesscontrol_pipe_cloexec(&pipeFDs, 0) == 0 else {
            return .failure(SpawnError(errno: errno, what: "pipe"))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)
        // Descriptors NIO opens without O_CLOEXEC (the control socket, the metrics listener)
        // must not leak: a child of a SIGKILLed orderd would still hold them, and a new orderd
        // would find the control socket answering and refuse to start.
        cprocesscontrol_spawn_addclosefrom(&actions, 3)
        if let directory = request.workingDirectory {
            cprocesscontrol_spawn_addchdir(&actions, directory)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // New session (and so new process group); signals reset to default, none blocked
        // (orderd blocks/handles some).
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(Self.spawnSetSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([request.executable] + request.arguments).map { strdup($0) } + [nil]
        let envp = request.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, request.executable, &actions, &attributes, argv, envp)
        close(pipeFDs[1])
        guard result == 0 else {
            close(pipeFDs[0])
            return .failure(SpawnError(errno: result, what: request.executable))
        }
        return .success(SpawnedProcess(pid: pid, output: pipeFDs[0]))
    }
}

/// What to run.
public struct SpawnRequest: Sendable, Hashable {
    /// An absolute path: no `PATH` search.
    public var executable: String
    /// The arguments after `argv[0]` (which is ``executable``).
    public var arguments: [String]
    /// The child's whole environment; nothing is inherited besides it.
    public var environment: [String: String]
    /// The child's working directory; nil keeps orderd's.
    public var workingDirectory: String?

    /// A request to run `executable` with exactly these arguments and environment.
    public init(executable: String, arguments: [String], environment: [String: String], workingDirectory: String?) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
    }
}

/// A running child: its pid (also its session and process group id) and the read end of its
/// output pipe.
public struct SpawnedProcess: Sendable, Hashable {
    /// The child's pid, which is also its session and process group id.
    public var pid: Int32
    /// The read end of the pipe the child's stdout and stderr share; the reader closes it.
    public var output: Int32

    /// Sends `signal` to the child's whole process group, and to every other process still in
    /// its session: descendants that moved to a process group of their own, and orphans left
    /// after the child died (the session id stays theirs, and the kernel does not reuse it).
    public func signalGroup(_ signal: Int32) {
        _ = kill(-pid, signal)
        #if os(Linux)
        // A few passes, for processes forked while the previous pass ran.
        var signalled: Set<Int32> = []
        for _ in 0..<4 {
            let members = Self.sessionMembers(pid).filter { !signalled.contains($0) }
            guard !members.isEmpty else { break }
            for member in members { _ = kill(member, signal) }
            signalled.formUnion(members)
        }
        #endif
    }

    #if os(Linux)
    /// The pids whose session id (field 6 of `/proc/<pid>/stat`) is `session`.
    static func sessionMembers(_ session: Int32) -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var members: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        for name in names {
            guard let pid = Int32(name) else { continue }
            let fd = open("/proc/\(name)/stat", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            let count = read(fd, &buffer, buffer.count)
            close(fd)
            guard count > 0 else { continue }
            // "<pid> (<comm>) <state> <ppid> <pgrp> <session> …"; comm may contain spaces and ')'.
            let stat = buffer[0..<count]
            guard let paren = stat.lastIndex(of: UInt8(ascii: ")")) else { continue }
            let fields = stat[(paren + 1)...].split(separator: UInt8(ascii: " "))
            guard fields.count > 3, Int32(String(decoding: fields[3], as: UTF8.self)) == session else { continue }
            members.append(pid)
        }
        return members
    }
    #endif
}

/// A child could not be spawned; nothing was started.
public struct SpawnError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The `errno` of the failed call (`posix_spawn`'s result, or that of `pipe`).
    public var errno: Int32
    /// What failed: the executable, or `pipe`.
    public var what: String

    /// For example `/opt/bin/x: No such file or directory`.
    public var description: String { "\(what): \(String(cString: strerror(errno)))" }
}
