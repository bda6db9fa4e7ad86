import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Runs one service: carries out the actions of its ``Supervision`` state machine (spawn,
/// signal, timers) and feeds it events (exits, probe results, operator commands).
///
/// An actor: events are applied one at a time in arrival order. Timers and probes are tagged
/// with the process generation they belong to, so a late timer of an old process never acts on
/// a new one. Every task it starts is held (and cancelled when superseded): the process task
/// (spawn, then await the exit), the probe loop and the one pending timer.
actor SupervisedService {
    nonisolated let name: String
    let spec: ServiceSpec
    private var machine: Supervision
    private var process: SpawnedProcess?
    private var generation = 0
    /// Spawns the current generation's process and delivers its exit.
    private var processTask: Task<Void, Never>?
    private var probeTask: Task<Void, Never>?
    private var timer: Task<Void, Never>?
    private let environment: [String: String]
    private let logger: Logger
    private let changes: ChangeSignal
    private(set) var restartsByReason: [RestartReason: Int] = [:]
    private(set) var probeFailures: [String: Int] = ["liveness": 0, "readiness": 0]

    init(spec: ServiceSpec, environment: [String: String], logger: Logger, changes: ChangeSignal) {
        self.name = spec.name
        self.spec = spec
        self.machine = Supervision(policy: spec.supervisionPolicy)
        self.environment = environment
        self.logger = logger
        self.changes = changes
    }

    var state: ServiceState { machine.state }

    func snapshot(now: ContinuousClock.Instant = .now) -> ServiceStatus {
        ServiceStatus(
            name: name,
            state: machine.state,
            pid: machine.pid,
            uptimeSeconds: machine.startedAt.map { (now - $0).seconds },
            restarts: machine.restarts,
            lastExit: machine.lastExit?.description,
            ready: machine.state == .ready,
            nextRestartSeconds: machine.nextRestart.map { max(0, ($0 - now).seconds) },
            note: machine.note
        )
    }

    /// Applies an event and carries out what the state machine decides.
    func send(_ event: Supervision.Event) {
        let before = machine.state
        let actions = machine.handle(event, now: .now, jitter: Double.random(in: 0.5...1.0))
        if machine.state != before {
            let level: Logger.Level = machine.state == .failed || machine.state == .backoff ? .warning : .info
            logger.log(
                level: level,
                "\(name): \(before.rawValue) → \(machine.state.rawValue)\(machine.note.map { " (\($0))" } ?? "")"
            )
        }
        for action in actions { perform(action) }
        changes.signal()
    }

    private func perform(_ action: Supervision.Action) {
        switch action {
        case .spawn:
            generation += 1
            let current = generation
            // The previous generation's task has delivered its exit (or its process is being
            // killed as stale): a spawn comes only after the exit.
            processTask = Task { await self.runProcess(generation: current) }
        case .terminate:
            process?.signalGroup(SIGTERM)
        case .kill:
            process?.signalGroup(SIGKILL)
        case .scheduleRestart(let delay):
            schedule(after: delay, .backoffElapsed)
        case .scheduleKill(let delay):
            schedule(after: delay, .stopTimeoutElapsed)
        case .countRestart(let reason):
            restartsByReason[reason, default: 0] += 1
        }
    }

    private func schedule(after delay: Duration, _ event: Supervision.Event) {
        timer?.cancel()
        let current = generation
        // A timer (backoff or stop timeout), not polling: it fires once, unless superseded.
        timer = Task {
            do { try await Task.sleep(for: delay) } catch { return }
            self.fire(event, generation: current)
        }
    }

    private func fire(_ event: Supervision.Event, generation: Int) {
        guard generation == self.generation else { return }
        send(event)
    }

    /// Spawns the process of `generation`, then waits for its exit and applies it.
    private func runProcess(generation: Int) async {
        let request = SpawnRequest(
            executable: spec.executable,
            arguments: spec.arguments,
            environment: environment,
            workingDirectory: spec.workingDirectory
        )
        // The reaper thread hands the exit over through this stream, to this task.
        let (exits, exit) = AsyncStream.makeStream(of: ExitStatus.self, bufferingPolicy: .bufferingOldest(1))
        let spawned: SpawnedProcess
        do {
            spawned = try await ChildProcesses.shared().spawn(request) { status in
                exit.yield(status)
                exit.finish()
            }
        } catch {
            logger.error("\(name): cannot start \(spec.executable): \(error)")
            send(.spawnFailed(error.description))
            return
        }
        OutputForwarder.start(fd: spawned.output, service: name)
        if generation == self.generation {
            process = spawned
            send(.spawned(pid: spawned.pid))
            // A stop that arrived while spawning applies now.
            if machine.state == .stopping { spawned.signalGroup(SIGTERM) }
            startProbes(generation: generation)
        } else {
            spawned.signalGroup(SIGKILL)
        }
        // Never cancelled: the exit always arrives (ChildProcesses reports every exit).
        for await status in exits {
            exited(status, generation: generation)
        }
    }

    private func exited(_ status: ExitStatus, generation: Int) {
        guard generation == self.generation else { return }
        // Whatever the child left behind in its group goes with it.
        process?.signalGroup(SIGKILL)
        process = nil
        probeTask?.cancel()
        probeTask = nil
        logger.log(level: status.isSuccess ? .info : .warning, "\(name) exited: \(status)")
        send(.exited(status))
    }

    private func startProbes(generation: Int) {
        probeTask?.cancel()
        let prober = Prober(timeout: spec.probeTimeout)
        let port = spec.metricsPort
        let interval = spec.probeInterval
        let budget = spec.supervisionPolicy.startupBudget
        let started = ContinuousClock.now
        probeTask = Task {
            var everReady = false
            while !Task.isCancelled {
                // The probe interval, a timer. Until the first ready answer, probe often so a
                // start is noticed promptly.
                let pause = everReady ? interval : min(interval, Self.startupProbeInterval)
                do { try await Task.sleep(for: pause) } catch { return }
                let ready = await prober.check(port: port, path: "/ready")
                let alive = await prober.check(port: port, path: "/health")
                if everReady {
                    self.probed(liveness: alive, readiness: ready, generation: generation)
                } else if ready {
                    everReady = true
                    self.probed(liveness: alive, readiness: true, generation: generation)
                } else {
                    // Startup: /health marks the process alive; the budget ends the phase.
                    if alive { self.fire(.livenessPassed, generation: generation) }
                    if ContinuousClock.now - started > budget {
                        self.fire(.startupBudgetExceeded, generation: generation)
                        everReady = true
                    } else {
                        self.probed(liveness: nil, readiness: false, generation: generation)
                    }
                }
            }
        }
    }

    /// How often readiness is probed while a service is starting.
    static let startupProbeInterval: Duration = .milliseconds(200)

    private func probed(liveness: Bool?, readiness: Bool, generation: Int) {
        guard generation == self.generation else { return }
        if let liveness {
            if !liveness { probeFailures["liveness", default: 0] += 1 }
            send(liveness ? .livenessPassed : .livenessFailed)
        }
        if !readiness, machine.state != .starting { probeFailures["readiness", default: 0] += 1 }
        send(readiness ? .readinessPassed : .readinessFailed)
    }

    /// Waits, following the state changes, until the service is in one of `states`; false when
    /// `timeout` passed first.
    func waitFor(_ states: Set<ServiceState>, timeout: Duration) async -> Bool {
        await changes.wait(timeout: timeout) { states.contains(await self.state) }
    }

    /// SIGKILL to the group right away (orderd is going down and the budget is spent).
    func killNow() {
        process?.signalGroup(SIGKILL)
    }
}

/// One row of `orderd status` (and of `--json`, whose keys are these property names).
public struct ServiceStatus: Sendable, Hashable, Codable {
    /// The service's name, as configured (`[services.<name>]`).
    public var name: String
    /// Its lifecycle state.
    public var state: ServiceState
    /// The running process (also its process group and session id); nil when none runs.
    public var pid: Int32?
    /// How long the current process has run.
    public var uptimeSeconds: Double?
    /// Restarts so far, for any reason.
    public var restarts: Int
    /// How the last process ended, as systemd words it (`exit 1`, `signal 9 (KILL)`).
    public var lastExit: String?
    /// True when the state is ``ServiceState/ready``.
    public var ready: Bool
    /// Seconds until the next restart, while in backoff.
    public var nextRestartSeconds: Double?
    /// Why the service is failed, stopped or not started, when there is something to say.
    public var note: String?
}
