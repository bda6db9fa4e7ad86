import Foundation
import Hummingbird
import HummingbirdTesting
import ServiceKit
@testable import Supervisor
import Testing

/// The control API's routes in process, over a real ``Supervisor`` whose services are not started.
@Suite("Control API answers", .timeLimit(.minutes(1)))
struct ControlServerTests {
    func withAPI(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let harness = try SupervisionHarness([FixtureService(name: "alpha")])
        do {
            try await Application(router: ControlServer.buildRouter(supervisor: harness.supervisor)).test(.router, body)
        } catch {
            await harness.shutdown()
            throw error
        }
        await harness.shutdown()
    }

    @Test("GET /v1/status answers DaemonStatus as JSON, keys in declaration order, decodable by the client")
    func status() async throws {
        try await withAPI { client in
            let reply = try await client.execute(uri: "/v1/status", method: .get)
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType] == "application/json")
            let text = String(buffer: reply.body)
            let keys = [
                "\"pid\":", "\"uptimeSeconds\":", "\"startedAt\":", "\"broker\":", "\"embeddedBroker\":",
                "\"config\":", "\"services\":[{\"name\":\"alpha\",\"state\":",
            ]
            let offsets = keys.map { text.range(of: $0)?.lowerBound }
            #expect(offsets.allSatisfy { $0 != nil }, "\(text)")
            #expect(offsets.compactMap { $0 } == offsets.compactMap { $0 }.sorted(), "\(text)")
            #expect(text.hasPrefix("{\"pid\":\(getpid()),"), "\(text)")
            let status = try JSONDecoder().decode(DaemonStatus.self, from: Data(reply.body.readableBytesView))
            #expect(status.services.map(\.name) == ["alpha"])
            #expect(status.broker == "127.0.0.1:1")
        }
    }

    @Test("a command on a known service answers its ServiceStatus")
    func command() async throws {
        try await withAPI { client in
            let reply = try await client.execute(uri: "/v1/services/alpha/reset-failed", method: .post)
            #expect(reply.status == .ok)
            let status = try JSONDecoder().decode(ServiceStatus.self, from: Data(reply.body.readableBytesView))
            #expect(status.name == "alpha")
            #expect(String(buffer: reply.body).hasPrefix(#"{"name":"alpha","state":"#))
        }
    }

    @Test("an unknown service or command is 404 with an error saying what exists")
    func unknown() async throws {
        try await withAPI { client in
            let service = try await client.execute(uri: "/v1/services/nope/start", method: .post)
            #expect(service.status == .notFound)
            let message = try JSONDecoder().decode([String: String].self, from: Data(service.body.readableBytesView))
            #expect(message["error"]?.contains("nope") == true, "\(message)")
            #expect(message["error"]?.contains("alpha") == true, "\(message)")

            let command = try await client.execute(uri: "/v1/services/alpha/fly", method: .post)
            #expect(command.status == .notFound)
            #expect(
                String(buffer: command.body) == """
                    {"error":"unknown command; use start, stop, restart or reset-failed"}

                    """
            )
        }
    }
}
