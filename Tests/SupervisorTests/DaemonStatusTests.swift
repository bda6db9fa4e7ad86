@testable import Supervisor
import Testing

/// When orderd reports READY=1, and what its STATUS= line says.
@Suite("DaemonStatus: settled and summary")
struct DaemonStatusTests {
    static func status(_ states: [ServiceState]) -> DaemonStatus {
        DaemonStatus(
            pid: 1,
            uptimeSeconds: 1,
            startedAt: "",
            broker: "b:9092",
            embeddedBroker: false,
            config: "orderd.toml",
            services: states.enumerated().map { index, state in
                ServiceStatus(
                    name: "s\(index)",
                    state: state,
                    pid: nil,
                    uptimeSeconds: nil,
                    restarts: 0,
                    lastExit: nil,
                    ready: state == .ready,
                    nextRestartSeconds: nil,
                    note: nil
                )
            }
        )
    }

    @Test("settled once no service is still starting: each ready, unhealthy past its budget, or failed")
    func settled() {
        #expect(Self.status([.ready, .ready]).settled)
        #expect(Self.status([.ready, .unhealthy, .failed]).settled)
        for unsettled: ServiceState in [.starting, .backoff, .stopping, .stopped] {
            #expect(!Self.status([.ready, unsettled]).settled, "\(unsettled)")
        }
        #expect(!Self.status([]).settled)
    }

    @Test("the summary names the services that are not ready and the failed ones")
    func summary() {
        #expect(Self.status([.ready, .ready]).summary == "2/2 ready")
        #expect(
            Self.status([.ready, .unhealthy, .failed]).summary == "1/3 ready, failed: s2, not ready: s1"
        )
    }
}
