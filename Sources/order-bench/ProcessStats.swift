import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// CPU time and peak memory of the platform's processes and of the bench, from /proc.
///
/// Sampled every second (``sample()``), so a process that exits or is restarted still has its
/// last figures. CPU is a delta from ``markStart()``: utime + stime ticks ÷ `_SC_CLK_TCK`; a
/// process first seen after the mark counts from zero. Peak RSS is `VmHWM`. Thread-safe.
final class ProcessStats: Sendable {
    /// Which processes to watch.
    enum Selection: Sendable {
        /// orderd and its children (processes whose parent it is).
        case children(of: pid_t)
        /// Processes on this host with these executable names (a platform the bench did not start).
        case named([String])
    }

    /// One name's figures over the run (a restarted service has several pids).
    struct Figures: Codable, Sendable, Hashable {
        var name: String
        var pids: [Int32]
        var cpuSeconds: Double
        var peakRssBytes: UInt64
    }

    private struct Process {
        var name: String
        var startTicks: UInt64
        var lastTicks: UInt64
        var peakRssBytes: UInt64
    }

    private struct State {
        var marked = false
        var processes: [pid_t: Process] = [:]
    }

    private let selection: Selection
    private let state = Mutex(State())
    private let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    init(selection: Selection) {
        self.selection = selection
    }

    /// From now on CPU counts; call when the measured run begins.
    func markStart() {
        sample()
        state.withLock { state in
            state.marked = true
            for pid in state.processes.keys { state.processes[pid]!.startTicks = state.processes[pid]!.lastTicks }
        }
    }

    /// Samples every second until cancelled.
    func run() async {
        while !Task.isCancelled {
            sample()
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Reads /proc once for every watched process and the bench itself.
    func sample() {
        var found = watchedProcesses()
        found[getpid()] = "order-bench"
        for (pid, name) in found {
            guard let ticks = Self.cpuTicks(pid) else { continue }
            let rss = Self.peakRss(pid)
            state.withLock { state in
                if var process = state.processes[pid] {
                    process.lastTicks = ticks
                    process.peakRssBytes = max(process.peakRssBytes, rss)
                    state.processes[pid] = process
                } else {
                    state.processes[pid] = Process(
                        name: name,
                        startTicks: state.marked ? 0 : ticks,
                        lastTicks: ticks,
                        peakRssBytes: rss
                    )
                }
            }
        }
    }

    /// Per name, sorted: orderd, the services, order-bench.
    func figures() -> [Figures] {
        state.withLock { state in
            var byName: [String: Figures] = [:]
            for (pid, process) in state.processes {
                var figures =
                    byName[process.name] ?? Figures(name: process.name, pids: [], cpuSeconds: 0, peakRssBytes: 0)
                figures.pids.append(pid)
                figures.cpuSeconds +=
                    Double(process.lastTicks - min(process.startTicks, process.lastTicks)) / ticksPerSecond
                figures.peakRssBytes = max(figures.peakRssBytes, process.peakRssBytes)
                byName[process.name] = figures
            }
            let order = ["orderd"] + PlatformConfiguration.services + ["order-bench"]
            func rank(_ figures: Figures) -> (Int, String) {
                (order.firstIndex(of: figures.name) ?? order.count, figures.name)
            }
            return byName.values
                .map { figures in
                    var figures = figures
                    figures.pids.sort()
                    return figures
                }
                .sorted { rank($0) < rank($1) }
        }
    }

    private func watchedProcesses() -> [pid_t: String] {
        var found: [pid_t: String] = [:]
        switch selection {
        case .children(let parent):
            found[parent] = "orderd"
            for pid in Self.allPids() where Self.parent(of: pid) == parent {
                found[pid] = Self.executableName(pid)
            }
        case .named(let names):
            for pid in Self.allPids() {
                let name = Self.executableName(pid)
                if names.contains(name) { found[pid] = name }
            }
        }
        return found
    }

    private static func allPids() -> [pid_t] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }
    }

    /// The fields of /proc/PID/stat after the command name, which may itself hold spaces and ")".
    private static func statFields(_ pid: pid_t) -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    private static func parent(of pid: pid_t) -> pid_t? {
        // After the name: state (index 0), ppid (1).
        statFields(pid).flatMap { $0.count > 1 ? pid_t($0[1]) : nil }
    }

    private static func cpuTicks(_ pid: pid_t) -> UInt64? {
        // utime and stime are fields 14 and 15 of stat, indices 11 and 12 after the name.
        guard let fields = statFields(pid), fields.count > 12, let user = UInt64(fields[11]),
            let system = UInt64(fields[12])
        else { return nil }
        return user + system
    }

    private static func peakRss(_ pid: pid_t) -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = UInt64(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes * 1024
    }

    /// The executable's base name from argv[0] (comm is cut at 15 characters: "inventory-servi").
    private static func executableName(_ pid: pid_t) -> String {
        if let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty {
            let argv0 = data.split(separator: 0, omittingEmptySubsequences: false).first ?? Data()
            let name = (String(decoding: argv0, as: UTF8.self) as NSString).lastPathComponent
            if !name.isEmpty { return name }
        }
        let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "?"
        return comm.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
