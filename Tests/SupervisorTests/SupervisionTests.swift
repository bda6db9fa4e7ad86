import Testing
@testable import Supervisor

/// The supervision state machine with an injected clock: every decision is checked without
/// processes or sleeps.
@Suite("Supervision state machine")
struct SupervisionTests {
    let t0 = ContinuousClock.now

    func policy(_ restart: RestartPolicy = .onFailure) -> SupervisionPolicy {
        SupervisionPolicy(restart: restart)
    }

    /// A machine that was started and became ready at `t0`.
    func running(_ policy: SupervisionPolicy) -> Supervision {
        var machine = Supervision(policy: policy)
        _ = machine.handle(.start, now: t0)
        _ = machine.handle(.spawned(pid: 100), now: t0)
        _ = machine.handle(.readinessPassed, now: t0)
        return machine
    }

    @Test("start spawns; ready after the readiness probe passes")
    func startToReady() {
        var machine = Supervision(policy: policy())
        #expect(machine.state == .stopped)
        #expect(machine.handle(.start, now: t0) == [.spawn])
        #expect(machine.state == .starting)
        #expect(machine.handle(.spawned(pid: 42), now: t0).isEmpty)
        #expect(machine.pid == 42)
        #expect(machine.handle(.readinessFailed, now: t0).isEmpty)
        #expect(machine.state == .starting)
        _ = machine.handle(.readinessPassed, now: t0)
        #expect(machine.state == .ready)
    }

    @Test("a crash restarts after 100 ms, then 200, 400, … capped at 30 s")
    func backoffDoubles() {
        var machine = running(SupervisionPolicy(startLimitBurst: 100))
        var now = t0
        var delays: [Duration] = []
        for _ in 0..<12 {
            let actions = machine.handle(.exited(.exited(1)), now: now)
            guard case .scheduleRestart(let delay)? = actions.last else {
                Issue.record("no restart scheduled: \(actions)")
                return
            }
            #expect(actions.first == .countRestart(.exit))
            #expect(machine.state == .backoff)
            #expect(machine.nextRestart == now + delay)
            delays.append(delay)
            now += delay
            #expect(machine.handle(.backoffElapsed, now: now) == [.spawn])
            _ = machine.handle(.spawned(pid: 1), now: now)
        }
        #expect(delays.prefix(4) == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800)])
        #expect(delays.last == .seconds(30))
        #expect(machine.restarts == 12)
    }

    @Test("jitter shortens a delay to between half and all of its step")
    func jitter() {
        var machine = running(policy())
        let actions = machine.handle(.exited(.exited(1)), now: t0, jitter: 0.5)
        #expect(actions.last == .scheduleRestart(after: .milliseconds(50)))
        #expect(SupervisionPolicy().backoff.delay(attempt: 3, jitter: 0.75) == .milliseconds(600))
        #expect(SupervisionPolicy().backoff.delay(attempt: 3, jitter: 7) == .milliseconds(800))
    }

    @Test("the backoff resets after the service has been ready for 60 s")
    func backoffResets() {
        var machine = running(policy())
        var now = t0
        for _ in 0..<3 {
            _ = machine.handle(.exited(.exited(1)), now: now)
            now += .seconds(1)
            _ = machine.handle(.backoffElapsed, now: now)
            _ = machine.handle(.readinessPassed, now: now)
        }
        now += .seconds(61)
        #expect(machine.handle(.exited(.exited(1)), now: now).last == .scheduleRestart(after: .milliseconds(100)))
    }

    @Test("5 starts within 60 s mark the service failed; start and reset-failed recover it")
    func startLimit() {
        var machine = Supervision(policy: policy())
        var now = t0
        _ = machine.handle(.start, now: now)
        for _ in 0..<4 {
            _ = machine.handle(.exited(.signalled(9)), now: now)
            #expect(machine.state == .backoff)
            now += .seconds(1)
            #expect(machine.handle(.backoffElapsed, now: now) == [.spawn])
        }
        // The fifth start has happened; its crash cannot be followed by a sixth within 60 s.
        #expect(machine.handle(.exited(.exited(2)), now: now).isEmpty)
        #expect(machine.state == .failed)
        #expect(machine.note?.contains("start limit") == true)
        #expect(machine.handle(.backoffElapsed, now: now + .seconds(30)).isEmpty)
        #expect(machine.state == .failed)
        #expect(machine.handle(.resetFailed, now: now) == [.spawn])
        #expect(machine.state == .starting)
        _ = machine.handle(.exited(.exited(2)), now: now)
        _ = machine.handle(.backoffElapsed, now: now)
        _ = machine.handle(.exited(.exited(2)), now: now)
        #expect(machine.state == .backoff, "reset-failed cleared the history")
    }

    @Test("starts older than the interval do not count toward the limit")
    func startLimitWindow() {
        var machine = Supervision(policy: policy())
        var now = t0
        _ = machine.handle(.start, now: now)
        for _ in 0..<20 {
            _ = machine.handle(.exited(.exited(1)), now: now)
            #expect(machine.state == .backoff)
            now += .seconds(15)
            _ = machine.handle(.backoffElapsed, now: now)
        }
    }

    @Test("restart policies: always restarts a clean exit, on-failure does not, never never does")
    func policies() {
        var always = running(policy(.always))
        #expect(always.handle(.exited(.exited(0)), now: t0).last == .scheduleRestart(after: .milliseconds(100)))
        var onFailure = running(policy(.onFailure))
        #expect(onFailure.handle(.exited(.exited(0)), now: t0).isEmpty)
        #expect(onFailure.state == .stopped)
        var onFailureCrash = running(policy(.onFailure))
        #expect(onFailureCrash.handle(.exited(.signalled(11)), now: t0).contains(.countRestart(.exit)))
        var never = running(policy(.never))
        #expect(never.handle(.exited(.exited(3)), now: t0).isEmpty)
        #expect(never.state == .failed)
        var neverClean = running(policy(.never))
        _ = neverClean.handle(.exited(.exited(0)), now: t0)
        #expect(neverClean.state == .stopped)
    }

    @Test("liveness: N failures in a row replace the process; a pass in between resets the count")
    func liveness() {
        var machine = running(policy())
        #expect(machine.handle(.livenessFailed, now: t0).isEmpty)
        #expect(machine.handle(.livenessFailed, now: t0).isEmpty)
        _ = machine.handle(.livenessPassed, now: t0)
        #expect(machine.handle(.livenessFailed, now: t0).isEmpty)
        #expect(machine.handle(.livenessFailed, now: t0).isEmpty)
        #expect(machine.handle(.livenessFailed, now: t0) == [.terminate, .scheduleKill(after: .seconds(10))])
        #expect(machine.state == .stopping)
        let actions = machine.handle(.exited(.signalled(15)), now: t0)
        #expect(actions.first == .countRestart(.liveness))
        #expect(machine.state == .backoff)
    }

    @Test("readiness failures make the service unhealthy without a restart; a pass makes it ready again")
    func readiness() {
        var machine = running(policy())
        #expect(machine.handle(.readinessFailed, now: t0).isEmpty)
        #expect(machine.state == .unhealthy)
        #expect(machine.pid == 100)
        _ = machine.handle(.readinessPassed, now: t0)
        #expect(machine.state == .ready)
    }

    @Test("not ready within the startup budget: the process is replaced (reason startup)")
    func startupBudget() {
        var machine = Supervision(policy: policy())
        _ = machine.handle(.start, now: t0)
        #expect(machine.handle(.startupBudgetExceeded, now: t0) == [.terminate, .scheduleKill(after: .seconds(10))])
        #expect(machine.handle(.exited(.exited(0)), now: t0).first == .countRestart(.startup))
    }

    @Test("alive (/health) but never ready within the budget: unhealthy, not restarted (Kafka down at start)")
    func aliveButNotReady() {
        var machine = Supervision(policy: policy())
        _ = machine.handle(.start, now: t0)
        _ = machine.handle(.livenessPassed, now: t0)
        #expect(machine.handle(.startupBudgetExceeded, now: t0).isEmpty)
        #expect(machine.state == .unhealthy)
        _ = machine.handle(.readinessPassed, now: t0)
        #expect(machine.state == .ready)
    }

    @Test("start during a stop starts the service again once it has stopped")
    func startWhileStopping() {
        var machine = running(policy())
        _ = machine.handle(.stop, now: t0)
        #expect(machine.handle(.start, now: t0).isEmpty)
        #expect(machine.handle(.exited(.signalled(15)), now: t0) == [.countRestart(.manual), .spawn])
        #expect(machine.state == .starting)
    }

    @Test("a spawn that fails while a stop is pending ends in stopped, not stuck in stopping")
    func spawnFailsWhileStopping() {
        var machine = Supervision(policy: policy())
        _ = machine.handle(.start, now: t0)
        _ = machine.handle(.stop, now: t0)
        _ = machine.handle(.spawnFailed("ENOENT"), now: t0)
        #expect(machine.state == .stopped)
        #expect(machine.handle(.start, now: t0) == [.spawn])
    }

    @Test("operator restarts do not count toward the start limit")
    func manualRestartsDoNotTripTheLimit() {
        var machine = running(policy())
        for _ in 0..<10 {
            _ = machine.handle(.restart, now: t0)
            #expect(machine.handle(.exited(.signalled(15)), now: t0) == [.countRestart(.manual), .spawn])
            _ = machine.handle(.readinessPassed, now: t0)
        }
        #expect(machine.state == .ready)
        #expect(machine.restarts == 10)
    }

    @Test("a manual stop is sticky: SIGTERM, SIGKILL after the stop timeout, then stopped with no restart")
    func manualStop() {
        var machine = running(policy(.always))
        #expect(machine.handle(.stop, now: t0) == [.terminate, .scheduleKill(after: .seconds(10))])
        #expect(machine.handle(.stopTimeoutElapsed, now: t0) == [.kill])
        #expect(machine.handle(.exited(.signalled(9)), now: t0).isEmpty)
        #expect(machine.state == .stopped)
        #expect(machine.handle(.backoffElapsed, now: t0).isEmpty)
        #expect(machine.state == .stopped)
        #expect(machine.handle(.start, now: t0) == [.spawn])
    }

    @Test("orderd's own shutdown stops like an operator stop but says why")
    func shutdown() {
        var machine = running(policy(.always))
        #expect(machine.handle(.shutdown, now: t0) == [.terminate, .scheduleKill(after: .seconds(10))])
        #expect(machine.note == "orderd is shutting down")
        _ = machine.handle(.exited(.exited(0)), now: t0)
        #expect(machine.state == .stopped)
        #expect(machine.note == "orderd is shutting down")
    }

    @Test("stopping a service in backoff cancels the restart")
    func stopInBackoff() {
        var machine = running(policy())
        _ = machine.handle(.exited(.exited(1)), now: t0)
        _ = machine.handle(.stop, now: t0)
        #expect(machine.state == .stopped)
        #expect(machine.nextRestart == nil)
        #expect(machine.handle(.backoffElapsed, now: t0).isEmpty)
    }

    @Test("an operator restart stops the process and starts it at once")
    func manualRestart() {
        var machine = running(policy())
        #expect(machine.handle(.restart, now: t0) == [.terminate, .scheduleKill(after: .seconds(10))])
        #expect(machine.handle(.exited(.signalled(15)), now: t0) == [.countRestart(.manual), .spawn])
        #expect(machine.state == .starting)
        var failed = Supervision(policy: SupervisionPolicy(restart: .never))
        _ = failed.handle(.start, now: t0)
        _ = failed.handle(.exited(.exited(1)), now: t0)
        #expect(failed.state == .failed)
        #expect(failed.handle(.restart, now: t0) == [.countRestart(.manual), .spawn])
    }

    @Test("a spawn failure is treated like a crash (exit 127)")
    func spawnFailure() {
        var machine = Supervision(policy: policy())
        _ = machine.handle(.start, now: t0)
        #expect(
            machine.handle(.spawnFailed("no such file"), now: t0).last == .scheduleRestart(after: .milliseconds(100))
        )
        #expect(machine.lastExit == .exited(127))
    }

    @Test("events that do not apply in a state change nothing")
    func ignoredEvents() {
        var machine = Supervision(policy: policy())
        for event: Supervision.Event in [
            .exited(.exited(1)), .readinessPassed, .livenessFailed, .backoffElapsed, .stopTimeoutElapsed, .resetFailed,
            .stop,
        ] {
            #expect(machine.handle(event, now: t0).isEmpty)
            #expect(machine.state == .stopped)
        }
    }

    @Test("exit statuses read like systemd's")
    func exitDescriptions() {
        #expect(ExitStatus.exited(0).description == "exit 0")
        #expect(ExitStatus.signalled(9).description == "signal 9 (KILL)")
        #expect(ExitStatus.exited(0).isSuccess)
        #expect(!ExitStatus.signalled(15).isSuccess)
    }
}
