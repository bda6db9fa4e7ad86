import Foundation
@testable import Supervisor
import Testing

/// What a service finds in its environment when orderd starts it.
@Suite("Child environment")
struct ChildEnvironmentTests {
    static func environment(_ serviceTable: String, embeddedBroker: Bool = false) throws -> [String: String] {
        let configuration = try SupervisorConfiguration.parse(
            "[services.svc]\nmetrics_port = 9311\n" + serviceTable,
            source: "test.toml",
            environment: [:],
            executableDirectory: "/opt/bin"
        )
        return Supervisor.childEnvironment(
            try #require(configuration.service(named: "svc")),
            configuration: configuration,
            brokers: "127.0.0.1:9092",
            embeddedBroker: embeddedBroker
        )
    }

    @Test("the platform's variables; the operations endpoints on loopback unless configured")
    func platformVariables() throws {
        let environment = try Self.environment("")
        #expect(environment["SERVICE_NAME"] == "svc")
        #expect(environment["METRICS_PORT"] == "9311")
        #expect(environment["KAFKA_BROKERS"] == "127.0.0.1:9092")
        #expect(environment["ORDERD_PID"] == String(getpid()))
        if ProcessInfo.processInfo.environment["METRICS_HOST"] == nil {
            #expect(environment["METRICS_HOST"] == "127.0.0.1")
        }
        #expect(environment["NOTIFY_SOCKET"] == nil)
    }

    @Test("the service's configured environment comes last")
    func configuredEnvironmentWins() throws {
        let environment = try Self.environment("[services.svc.environment]\nMETRICS_HOST = \"0.0.0.0\"\nX = \"1\"\n")
        #expect(environment["METRICS_HOST"] == "0.0.0.0")
        #expect(environment["X"] == "1")
    }

    @Test("with the embedded broker: its fetch and fast-recovery settings, which the configuration still overrides")
    func embeddedBrokerSettings() throws {
        // orderd's own environment overrides these too.
        let inherited = ProcessInfo.processInfo.environment
        let embedded = try Self.environment("", embeddedBroker: true)
        #expect(embedded["KAFKA_FETCH_WAIT_MAX_MS"] == inherited["KAFKA_FETCH_WAIT_MAX_MS"] ?? "5")
        #expect(embedded["KAFKA_SESSION_TIMEOUT_MS"] == inherited["KAFKA_SESSION_TIMEOUT_MS"] ?? "3500")
        #expect(embedded["KAFKA_HEARTBEAT_INTERVAL_MS"] == inherited["KAFKA_HEARTBEAT_INTERVAL_MS"] ?? "500")
        let external = try Self.environment("")
        #expect(external["KAFKA_SESSION_TIMEOUT_MS"] == inherited["KAFKA_SESSION_TIMEOUT_MS"])
        let configured = try Self.environment(
            "[services.svc.environment]\nKAFKA_SESSION_TIMEOUT_MS = \"6000\"\n",
            embeddedBroker: true
        )
        #expect(configured["KAFKA_SESSION_TIMEOUT_MS"] == "6000")
    }
}
