import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import Prometheus
@testable import ServiceKit
import Testing

/// `/metrics`, `/health` and `/ready` through the operations router, in process.
@Suite("Operations endpoints")
struct OperationsServerTests {
    static func app(registry: PrometheusCollectorRegistry, readiness: Readiness) -> some ApplicationProtocol {
        Application(router: OperationsServer.buildRouter(registry: registry, readiness: readiness, service: "svc"))
    }

    @Test("/metrics answers the registry in Prometheus text format")
    func metrics() async throws {
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(name: "things_total", labels: [("kind", "a")]).increment(by: Int64(3))
        try await Self.app(registry: registry, readiness: Readiness()).test(.router) { client in
            let reply = try await client.execute(uri: "/metrics", method: .get)
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
            let text = String(buffer: reply.body)
            #expect(text.contains("# TYPE things_total counter\n"), "\(text)")
            #expect(text.contains(#"things_total{kind="a"} 3"#), "\(text)")
        }
    }

    @Test("/health is 200 with the service's name while serving")
    func health() async throws {
        try await Self.app(registry: PrometheusCollectorRegistry(), readiness: Readiness()).test(.router) { client in
            let reply = try await client.execute(uri: "/health", method: .get)
            #expect(reply.status == .ok)
            #expect(String(buffer: reply.body) == "ok svc\n")
        }
    }

    @Test("/ready is 503 with every failing check's reason, then 200 once all pass")
    func ready() async throws {
        let readiness = Readiness(checks: [.broker, .database])
        try await Self.app(registry: PrometheusCollectorRegistry(), readiness: readiness).test(.router) { client in
            let waiting = try await client.execute(uri: "/ready", method: .get)
            #expect(waiting.status == .serviceUnavailable)
            #expect(String(buffer: waiting.body) == "not ready: broker: not checked yet; database: not checked yet\n")

            readiness.set(.database, ready: true)
            readiness.set(.broker, ready: false, reason: "broker did not answer within 2 s")
            let failing = try await client.execute(uri: "/ready", method: .get)
            #expect(failing.status == .serviceUnavailable)
            #expect(String(buffer: failing.body) == "not ready: broker did not answer within 2 s\n")

            readiness.set(.broker, ready: true)
            let ready = try await client.execute(uri: "/ready", method: .get)
            #expect(ready.status == .ok)
            #expect(String(buffer: ready.body) == "ready\n")
        }
    }

    @Test("an unknown path is 404")
    func unknown() async throws {
        try await Self.app(registry: PrometheusCollectorRegistry(), readiness: Readiness()).test(.router) { client in
            let reply = try await client.execute(uri: "/nope", method: .get)
            #expect(reply.status == .notFound)
        }
    }
}

/// The connection policy, over real TCP: a connection that never completes its request is closed.
@Suite("HTTP server connections")
struct HTTPServerPolicyTests {
    @Test(
        "a connection holding half a request header is closed after the idle timeout; whole requests are served",
        .timeLimit(.minutes(1))
    )
    func halfRequestIsClosed() async throws {
        let app = OperationsServer.buildApplication(
            host: "127.0.0.1",
            port: 0,
            registry: PrometheusCollectorRegistry(),
            readiness: Readiness(),
            service: "svc",
            // Long enough that a connection is never closed before its request is written, even
            // when the test's task waits for a thread on a loaded machine (CI saw 300 ms pass).
            idleTimeout: .seconds(2),
            logger: Logger(label: "test")
        )
        // The test client's own connection is idle too, and closed as well: raw connections only.
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let began = ContinuousClock.now
            // Ends when the server closes the connection; without the timeout, never.
            let half = try await Self.exchange(port: port, "GET /health HTTP/1.1\r\nHost: loc")
            #expect(half.isEmpty, "no answer to a request that never completed")
            #expect(ContinuousClock.now - began >= .seconds(2))
            let whole = try await Self.exchange(
                port: port,
                "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            #expect(whole.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(whole)")
        }
    }

    /// Sends `request` on a new connection and returns all that comes back until the server
    /// closes it; "" when the server closed it before the request could be written or read.
    static func exchange(port: Int, _ request: String) async throws -> String {
        do {
            let connection = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return try await connection.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: request))
                var received = ""
                for try await chunk in inbound { received += String(buffer: chunk) }
                return received
            }
        } catch ChannelError.ioOnClosedChannel {
            return ""
        } catch let error as IOError where error.errnoCode == ECONNRESET {
            // The server closed the connection while the request was still unread (a loaded
            // machine can let the idle timeout pass before the write): the kernel answers RST.
            return ""
        }
    }

    @Test("a port another process holds: the error names the address and the variable to change")
    func portTaken() async throws {
        let holder = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        defer { holder.close(promise: nil) }
        let port = try #require(holder.localAddress?.port)
        let server = ListeningServer(
            OperationsServer.buildApplication(
                host: "127.0.0.1",
                port: port,
                registry: PrometheusCollectorRegistry(),
                readiness: Readiness(checks: []),
                service: "svc",
                logger: Logger(label: "test")
            ),
            host: "127.0.0.1",
            port: port,
            variable: "METRICS_PORT"
        )
        let error = await #expect(throws: ListenError.self) { try await server.run() }
        #expect(error?.address == "127.0.0.1:\(port)")
        #expect(error?.description.contains("(METRICS_PORT)") == true)
        #expect(error?.description.contains("set METRICS_PORT to a free port") == true, "\(String(describing: error))")
    }
}
