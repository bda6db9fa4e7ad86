import Foundation
import Supervisor
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A real in-process ``Supervisor`` over real `supervisor-fixture` children: restarts with
/// backoff, the start limit, stop escalation to SIGKILL, process-group clean-up, probes, sticky
/// stops, isolation between services, aggregated metrics and `stopAll`.
///
/// Every wait has a deadline; nothing asserts after a bare sleep.
@Suite("Supervision of real processes", .serialized, .timeLimit(.minutes(2)))
struct SupervisionProcessTests {
    typealias Harness = SupervisionHarness

    /// A service that crashes (exit 1) 200 ms after every start.
    static func crashing(_ name: String, burst: Int) -> FixtureService {
        FixtureService(
            name: name,
            environment: ["FIXTURE_EXIT_AFTER_MS": "200"],
            settings: ["start_limit_burst = \(burst)", #"start_limit_interval = "60s""#]
        )
    }

    @Test("a crashing child is restarted with growing backoff delays")
    func crashRestartsWithBackoff() async throws {
        try await Harness.run([Self.crashing("crashy", burst: 100)]) { harness in
            var restartsSeen: [Int] = []
            // A deadline, not a figure (the checks below are lower bounds): under the full suite a
            // fixture process can take seconds to start, and seven must.
            let status = try await harness.waitFor("7 starts of crashy", timeout: .seconds(100)) { status in
                restartsSeen.append(status.services[0].restarts)
                return harness.starts("crashy").count >= 7
            }
            #expect(restartsSeen == restartsSeen.sorted(), "the restart counter never goes down")
            let row = status.services[0]
            #expect(row.restarts >= 4)
            #expect(row.lastExit == "exit 1")

            let times = harness.starts("crashy").map(\.time)
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            try #require(gaps.count >= 6)
            // Each gap: 200 ms of life plus a backoff of at least half the nominal
            // 100 ms × 2^n (jitter 0.5…1.0). Only lower bounds: process start-up time varies
            // (a cold first start can take a second), but by the sixth restart the bound (1.8 s)
            // is far above any start-up noise, so the delays demonstrably double.
            for (index, gap) in gaps.prefix(6).enumerated() {
                let nominal = 0.1 * Double(1 << index)
                #expect(gap >= 0.2 + nominal * 0.5 - 0.01, "gap \(index) was \(gap) s; gaps \(gaps)")
            }
            #expect(
                Set(harness.starts("crashy").map(\.pid)).count == harness.starts("crashy").count,
                "a new process each time"
            )
        }
    }

    @Test("a crash loop hits the start limit, stays failed, and reset-failed starts it again")
    func startLimit() async throws {
        try await Harness.run([Self.crashing("looper", burst: 3)]) { harness in
            let failed = try await harness.waitFor("looper", "failed", timeout: .seconds(15)) { $0.state == .failed }
            #expect(harness.starts("looper").count == 3)
            #expect(failed.pid == nil)
            #expect(failed.lastExit == "exit 1")
            #expect(failed.note?.contains("start limit") == true, "note: \(failed.note ?? "-")")

            let stayedFailed = try await harness.holds(for: .milliseconds(1500)) { status in
                status.services[0].state == .failed && harness.starts("looper").count == 3
            }
            let seen = Harness.describe(await harness.supervisor.status())
            #expect(stayedFailed, "no start after failed: \(harness.starts("looper").count) starts, \(seen)")

            let afterReset = try await harness.supervisor.perform(.resetFailed, service: "looper")
            #expect(afterReset.state == .starting)
            #expect(try await Harness.eventually(timeout: .seconds(15)) { harness.starts("looper").count >= 4 })
        }
    }

    @Test("a child that ignores SIGTERM is killed after stop_timeout")
    func stopEscalatesToKill() async throws {
        let service = FixtureService(
            name: "stubborn",
            environment: ["FIXTURE_IGNORE_SIGTERM": "1"],
            settings: [#"restart = "always""#]
        )
        try await Harness.run([service]) { harness in
            let ready = try await harness.waitFor("stubborn", "ready") { $0.state == .ready }
            let pid = try #require(ready.pid)
            let began = ContinuousClock.now
            let stopping = try await harness.supervisor.perform(.stop, service: "stubborn")
            #expect(stopping.state == .stopping)
            let stopped = try await harness.waitFor("stubborn", "stopped", timeout: .seconds(15)) {
                $0.state == .stopped
            }
            let elapsed = ContinuousClock.now - began
            #expect(elapsed >= .seconds(1), "stopped after \(elapsed), before stop_timeout")
            #expect(stopped.lastExit == "signal 9 (KILL)")
            #expect(stopped.pid == nil)
            #expect(Harness.isGone(pid))
        }
    }

    @Test("no grandchild survives a stop or a crash")
    func grandchildrenGo() async throws {
        let parent = FixtureService(
            name: "parent",
            environment: ["FIXTURE_GRANDCHILD_PIDFILE": "$DIR/grandchild.pid"],
            settings: [#"restart = "always""#]
        )
        try await Harness.run([parent]) { harness in
            let pidfile = harness.path("grandchild.pid")
            try await harness.waitFor("parent", "ready") { $0.state == .ready }
            let first = try #require(Harness.readPid(pidfile))
            #expect(kill(first, 0) == 0, "the grandchild runs while its parent does")

            // Stop: SIGTERM to the service; the grandchild must go too.
            _ = try await harness.supervisor.perform(.stop, service: "parent")
            try await harness.waitFor("parent", "stopped", timeout: .seconds(15)) { $0.state == .stopped }
            #expect(
                try await Harness.eventually(timeout: .seconds(2)) { Harness.isGone(first) },
                "grandchild \(first) survived a stop"
            )
            if !Harness.isGone(first) { kill(first, SIGKILL) }

            // Crash: the service aborts; its grandchild must not outlive it.
            _ = try await harness.supervisor.perform(.start, service: "parent")
            try await harness.waitFor("parent", "ready again") { $0.state == .ready }
            var second: Int32 = 0
            #expect(
                try await Harness.eventually(timeout: .seconds(15)) {
                    guard let pid = Harness.readPid(pidfile), pid != first else { return false }
                    second = pid
                    return true
                }
            )
            #expect(kill(second, 0) == 0)
            harness.post("parent", "/crash")
            let crashed = try await harness.waitFor("parent", "restarted after the crash", timeout: .seconds(15)) {
                $0.restarts >= 1 && $0.lastExit == "signal 6 (ABRT)"
            }
            #expect(crashed.lastExit == "signal 6 (ABRT)")
            #expect(
                try await Harness.eventually(timeout: .seconds(2)) { Harness.isGone(second) },
                "grandchild \(second) survived a crash"
            )
            if !Harness.isGone(second) { kill(second, SIGKILL) }
        }
    }

    @Test("a failing readiness probe makes the service unhealthy without a restart")
    func readinessFailure() async throws {
        try await Harness.run([FixtureService(name: "flaky")]) { harness in
            let ready = try await harness.waitFor("flaky", "ready") { $0.state == .ready }
            let pid = try #require(ready.pid)
            #expect(harness.post("flaky", "/ready/fail") == 200)
            let unhealthy = try await harness.waitFor("flaky", "unhealthy", timeout: .seconds(15)) {
                $0.state == .unhealthy
            }
            #expect(unhealthy.pid == pid)
            #expect(unhealthy.restarts == 0)
            #expect(!unhealthy.ready)
            #expect(harness.post("flaky", "/ready/pass") == 200)
            let again = try await harness.waitFor("flaky", "ready again", timeout: .seconds(15)) { $0.state == .ready }
            #expect(again.pid == pid)
            #expect(again.restarts == 0)
            #expect(harness.starts("flaky").count == 1)
        }
    }

    @Test("a hanging /health restarts the service after the liveness threshold")
    func livenessFailure() async throws {
        let service = FixtureService(name: "hanger", probes: ["liveness_failure_threshold = 2"])
        try await Harness.run([service]) { harness in
            let ready = try await harness.waitFor("hanger", "ready") { $0.state == .ready }
            let pid = try #require(ready.pid)
            #expect(harness.post("hanger", "/hang") == 200)
            let restarted = try await harness.waitFor("hanger", "restarted with a new pid", timeout: .seconds(15)) {
                $0.restarts >= 1 && $0.pid != nil && $0.pid != pid
            }
            #expect(restarted.restarts >= 1)
            #expect(Harness.isGone(pid))
            try await harness.waitFor("hanger", "ready after the restart") { $0.state == .ready }
        }
    }

    @Test("a manual stop is sticky under restart = always; start brings it back")
    func stopIsSticky() async throws {
        let service = FixtureService(name: "steady", settings: [#"restart = "always""#])
        try await Harness.run([service]) { harness in
            let ready = try await harness.waitFor("steady", "ready") { $0.state == .ready }
            let pid = try #require(ready.pid)
            _ = try await harness.supervisor.perform(.stop, service: "steady")
            let stopped = try await harness.waitFor("steady", "stopped", timeout: .seconds(15)) { $0.state == .stopped }
            #expect(stopped.lastExit == "exit 0")
            #expect(Harness.isGone(pid))
            let stayed = try await harness.holds(for: .milliseconds(1500)) { status in
                status.services[0].state == .stopped && status.services[0].pid == nil
                    && harness.starts("steady").count == 1
            }
            let seen = Harness.describe(await harness.supervisor.status())
            #expect(stayed, "restarted after a manual stop: \(seen)")
            _ = try await harness.supervisor.perform(.start, service: "steady")
            let back = try await harness.waitFor("steady", "ready after start") { $0.state == .ready }
            #expect(back.pid != pid)
            #expect(harness.starts("steady").count == 2)
        }
    }

    @Test("a crash-looping service never disturbs another")
    func isolation() async throws {
        let stable = FixtureService(name: "stable")
        try await Harness.run([Self.crashing("looper", burst: 3), stable]) { harness in
            let ready = try await harness.waitFor("stable", "ready") { $0.state == .ready }
            let pid = try #require(ready.pid)
            var disturbed: [String] = []
            try await harness.waitFor("looper failed", timeout: .seconds(15)) { status in
                let row = status.services.first { $0.name == "stable" }!
                if row.state != .ready || row.pid != pid || row.restarts != 0 {
                    disturbed.append(Harness.describe(status))
                }
                return status.services.first { $0.name == "looper" }!.state == .failed
            }
            #expect(disturbed.isEmpty, "stable was disturbed: \(disturbed.prefix(3))")
            let after = try await harness.status("stable")
            #expect(after.state == .ready && after.pid == pid && after.restarts == 0)
            #expect(harness.starts("stable").count == 1)
        }
    }

    @Test("aggregated metrics label each fixture's series and report orderd's own")
    func aggregatedMetrics() async throws {
        try await Harness.run([FixtureService(name: "a"), FixtureService(name: "b")]) { harness in
            try await harness.waitFor("a and b ready") { $0.services.allSatisfy { $0.state == .ready } }
            let metrics = AggregatedMetrics(supervisor: harness.supervisor, scrapeTimeout: .seconds(2))
            let text = await metrics.render()
            let lines = text.split(separator: "\n").map(String.init)
            for service in ["a", "b"] {
                #expect(lines.contains(#"fixture_up{service="\#(service)"} 1"#), "\(text)")
                #expect(lines.contains(#"orderd_service_up{service="\#(service)"} 1"#), "\(text)")
                #expect(lines.contains(#"orderd_service_state{service="\#(service)",state="ready"} 1"#), "\(text)")
                #expect(
                    lines.contains(#"orderd_service_restarts_total{service="\#(service)",reason="exit"} 0"#),
                    "\(text)"
                )
            }
            #expect(lines.filter { $0 == "# TYPE fixture_up gauge" }.count == 1, "\(text)")
            #expect(lines.filter { $0.hasPrefix("# TYPE orderd_service_up ") }.count == 1, "\(text)")

            _ = try await harness.supervisor.perform(.stop, service: "a")
            try await harness.waitFor("a", "stopped", timeout: .seconds(15)) { $0.state == .stopped }
            let after = await metrics.render().split(separator: "\n").map(String.init)
            #expect(after.contains(#"orderd_service_up{service="a"} 0"#), "\(after)")
            #expect(after.contains(#"orderd_service_state{service="a",state="stopped"} 1"#), "\(after)")
            #expect(!after.contains { $0.hasPrefix(#"fixture_up{service="a"}"#) }, "\(after)")
            #expect(after.contains(#"fixture_up{service="b"} 1"#), "\(after)")
            #expect(after.contains(#"orderd_service_up{service="b"} 1"#), "\(after)")
        }
    }

    @Test("concurrent scrapes of the aggregated endpoint share one scrape of each child")
    func coalescedScrapes() async throws {
        // Slow enough that all four requests join the first scrape, even when a task of theirs
        // waits for a thread on a loaded machine.
        let slow = FixtureService(name: "slow", environment: ["FIXTURE_METRICS_DELAY_MS": "4000"])
        try await Harness.run([slow]) { harness in
            try await harness.waitFor("slow ready") { $0.services.allSatisfy { $0.state == .ready } }
            let metrics = AggregatedMetrics(supervisor: harness.supervisor, scrapeTimeout: .seconds(20))
            let scrapeNumbers = await withTaskGroup(of: String?.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        await metrics.render().split(separator: "\n")
                            .first { $0.hasPrefix(#"fixture_scrapes_total{service="slow"}"#) }.map(String.init)
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(scrapeNumbers.count == 4 && scrapeNumbers.allSatisfy { $0 != nil }, "\(scrapeNumbers)")
            #expect(Set(scrapeNumbers).count == 1, "one scrape served all four: \(scrapeNumbers)")
            let next = await metrics.render()
            #expect(!next.contains(scrapeNumbers[0] ?? "-"), "a later request scrapes again")
        }
    }

    /// Alive (/health passes) but not ready until told (`POST /ready/pass`), with a startup
    /// budget long enough that only readiness can end its startup in a test.
    static func notReadyYet(
        _ name: String,
        environment: [String: String] = [:],
        settings: [String] = []
    ) -> FixtureService {
        FixtureService(
            name: name,
            environment: environment.merging(["FIXTURE_NEVER_READY": "1"]) { $1 },
            settings: settings,
            probes: [#"startup_budget = "60s""#]
        )
    }

    @Test("a service waits for the one it starts after, and starts once that one is ready")
    func dependencyReadyStartsDependent() async throws {
        let app = FixtureService(name: "app", settings: [#"after = ["base"]"#])
        try await Harness.run([Self.notReadyYet("base"), app]) { harness in
            try await harness.waitFor("base", "running") { $0.state == .starting && $0.pid != nil }
            let waited = try await harness.holds(for: .milliseconds(800)) { status in
                status.services.first { $0.name == "app" }?.state == .stopped
            }
            #expect(waited, "app started before base was ready")
            #expect(harness.starts("app").isEmpty)

            #expect(harness.post("base", "/ready/pass") == 200)
            let started = try await harness.waitFor("app", "ready") { $0.state == .ready }
            #expect(started.note == nil)
            #expect(try await harness.status("base").state == .ready)
            #expect(harness.starts("app").count == 1)
        }
    }

    @Test("a dependency that fails ends the wait: the dependent is not started, and status and log say why")
    func dependencyFailureEndsTheWait() async throws {
        let base = Self.notReadyYet(
            "base",
            environment: ["FIXTURE_EXIT_AFTER_MS": "300"],
            settings: [#"restart = "never""#]
        )
        let app = FixtureService(name: "app", settings: [#"after = ["base"]"#])
        let harness = try SupervisionHarness([base, app])
        do {
            // startAll returns (the wait ended) rather than waiting for a dependency that is gone.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await harness.supervisor.startAll() }
                group.addTask {
                    try await Task.sleep(for: .seconds(20))
                    let last = Harness.describe(await harness.supervisor.status())
                    throw DeadlineExceeded(what: "startAll to give up on app", last: last)
                }
                try await group.next()
                group.cancelAll()
            }
            let status = await harness.supervisor.status()
            let failed = try #require(status.services.first { $0.name == "base" })
            let waiting = try #require(status.services.first { $0.name == "app" })
            #expect(failed.state == .failed, "\(Harness.describe(status))")
            #expect(waiting.state == .stopped && waiting.pid == nil, "\(Harness.describe(status))")
            #expect(harness.starts("app").isEmpty)
            let note = try #require(waiting.note)
            #expect(note.contains("not started") && note.contains("base"), "\(note)")
            #expect(note.contains("orderd start app"), "the note says what to do: \(note)")
            #expect(StatusTable.render(status).contains("app: \(note)"))

            // An operator start is obeyed at once and clears the note.
            let started = try await harness.supervisor.perform(.start, service: "app")
            #expect(started.state == .starting && started.note == nil)
            try await harness.waitFor("app", "ready") { $0.state == .ready }
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test("stopAll stops every service and leaves no process behind")
    func stopAllStopsEverything() async throws {
        let services = [
            FixtureService(name: "plain", settings: [#"restart = "always""#]),
            FixtureService(
                name: "stubborn",
                environment: ["FIXTURE_IGNORE_SIGTERM": "1"],
                settings: [#"restart = "always""#]
            ),
            FixtureService(
                name: "parent",
                environment: ["FIXTURE_GRANDCHILD_PIDFILE": "$DIR/grandchild.pid"],
                settings: [#"restart = "always""#]
            ),
        ]
        try await Harness.run(services) { harness in
            let pidfile = harness.path("grandchild.pid")
            let running = try await harness.waitFor("all ready") { $0.services.allSatisfy { $0.state == .ready } }
            let pids = running.services.compactMap(\.pid)
            #expect(pids.count == 3)
            let grandchild = try #require(Harness.readPid(pidfile))

            let began = ContinuousClock.now
            await harness.supervisor.stopAll(budget: .seconds(5))
            let elapsed = ContinuousClock.now - began
            #expect(elapsed < .seconds(8), "stopAll took \(elapsed)")

            let status = await harness.supervisor.status()
            #expect(status.services.allSatisfy { $0.state == .stopped && $0.pid == nil }, "\(Harness.describe(status))")
            for pid in pids { #expect(Harness.isGone(pid), "\(pid) still runs") }
            let everyStart = services.flatMap { harness.starts($0.name).map(\.pid) }
            #expect(everyStart.count == 3)
            for pid in everyStart { #expect(Harness.isGone(pid), "\(pid) still runs") }
            #expect(
                try await Harness.eventually(timeout: .seconds(2)) { Harness.isGone(grandchild) },
                "grandchild \(grandchild) survived stopAll"
            )
        }
    }
}
