import Hummingbird
import Logging
import Prometheus

/// The operations endpoints every service serves on `METRICS_PORT`:
///
/// - `GET /metrics`: Prometheus text format.
/// - `GET /health`: 200 while the process is alive and serving.
/// - `GET /ready`: 200 when the broker answered and the database is open, else 503 with reasons.
public enum OperationsServer {
    /// The three routes. Each answer reflects the moment of the request: `/metrics` collects the
    /// registry then, `/ready` reads ``Readiness`` then (503 `not ready: <reason>; …` while any check
    /// fails). Safe to serve concurrently: the registry and ``Readiness`` are thread-safe.
    public static func buildRouter(
        registry: PrometheusCollectorRegistry,
        readiness: Readiness,
        service: String
    ) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: Observability.exposition(registry)))
            )
        }
        router.get("health") { _, _ in
            text(.ok, "ok \(service)\n")
        }
        router.get("ready") { _, _ in
            let failures = readiness.failures
            return failures.isEmpty
                ? text(.ok, "ready\n")
                : text(.serviceUnavailable, "not ready: " + failures.joined(separator: "; ") + "\n")
        }
        return router
    }

    /// The server of ``buildRouter(registry:readiness:service:)`` on `host:port` (`METRICS_HOST`,
    /// `METRICS_PORT`). Runs as a `Service` until graceful shutdown; a connection idle for
    /// `idleTimeout` (``HTTPServerPolicy/idleTimeout`` by default) is closed.
    public static func buildApplication(
        host: String,
        port: Int,
        registry: PrometheusCollectorRegistry,
        readiness: Readiness,
        service: String,
        idleTimeout: Duration = HTTPServerPolicy.idleTimeout,
        logger: Logger
    ) -> some ApplicationProtocol {
        Application(
            router: buildRouter(registry: registry, readiness: readiness, service: service),
            server: HTTPServerPolicy.http1(idleTimeout: idleTimeout),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: service),
            logger: logger
        )
    }

    static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body))
        )
    }
}
