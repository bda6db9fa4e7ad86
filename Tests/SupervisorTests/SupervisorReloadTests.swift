import Foundation
@testable import Supervisor
import Testing

/// ``Supervisor/reload(_:)`` over real fixture processes.
@Suite("Reload", .timeLimit(.minutes(2)))
struct SupervisorReloadTests {
    @Test("commands are refused while a reload replaces a service, and its old process never outlives the reload")
    func commandsDuringReload() async throws {
        // It ignores SIGTERM, so the reload waits out its stop timeout before the SIGKILL: 5 s,
        // so that a test task held up on a loaded machine still sees the reload under way.
        let slow = FixtureService(
            name: "slow",
            environment: ["FIXTURE_IGNORE_SIGTERM": "1"],
            settings: [#"stop_timeout = "5s""#]
        )
        try await SupervisionHarness.run([slow, FixtureService(name: "other")]) { harness in
            // Generous: under the parallel suites a fixture's first readiness probes may time out.
            try await harness.waitFor("both ready", timeout: .seconds(40)) {
                $0.services.allSatisfy { $0.state == .ready }
            }
            let oldPid = try #require(try await harness.status("slow").pid)
            var changed = harness.configuration
            let index = try #require(changed.services.firstIndex { $0.name == "slow" })
            changed.services[index].environment["CHANGED"] = "1"

            async let reloaded: Void = harness.supervisor.reload(changed)
            try await harness.waitFor("slow", "stopping for the reload") { $0.state == .stopping }
            await #expect(throws: Supervisor.CommandError.reloading) {
                try await harness.supervisor.perform(.start, service: "slow")
            }
            await #expect(throws: Supervisor.CommandError.reloading) {
                try await harness.supervisor.perform(.restart, service: "other")
            }
            await reloaded

            #expect(SupervisionHarness.isGone(oldPid), "the replaced process is gone")
            // Generous for the same reason as the first wait: a new fixture under the parallel suites.
            let restarted = try await harness.waitFor("slow", "ready with the new configuration", timeout: .seconds(40))
            {
                $0.state == .ready
            }
            #expect(restarted.pid != oldPid)
            #expect(try await harness.supervisor.perform(.restart, service: "other").name == "other")
        }
    }
}
