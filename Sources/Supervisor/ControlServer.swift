import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceKit
#if canImport(Glibc)
import Glibc
#endif

/// The control API behind the CLI, on a Unix socket (mode 0600, or 0660 for a configured group):
///
/// - `GET /v1/status` → ``DaemonStatus``
/// - `POST /v1/services/{name}/{start|stop|restart|reset-failed}` → ``ServiceStatus``;
///   404 for an unknown service or command, 409 while a reload runs.
public enum ControlServer {
    /// The control routes over `supervisor`. Answers are JSON (``JSONResponse``): keys in the
    /// order the status types declare them; errors are `{"error":"…"}` with 404.
    public static func buildRouter(supervisor: Supervisor) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("v1/status") { _, _ in
            try JSONResponse.make(.ok, await supervisor.status())
        }
        router.post("v1/services/:name/:command") { _, context in
            let name = context.parameters.get("name") ?? ""
            guard let command = Supervisor.Command(rawValue: context.parameters.get("command") ?? "") else {
                let error = "unknown command; use start, stop, restart or reset-failed"
                return try JSONResponse.make(.notFound, ["error": error])
            }
            do {
                return try JSONResponse.make(.ok, try await supervisor.perform(command, service: name))
            } catch let error as Supervisor.CommandError {
                let status: HTTPResponse.Status = error == .reloading ? .conflict : .notFound
                return try JSONResponse.make(status, ["error": error.description])
            }
        }
        return router
    }

    /// The control API server on `socket` (bound at its private path, then published: see
    /// ``ControlSocket``). Runs as a `Service` until graceful shutdown. If the socket cannot be
    /// published, orderd logs it and runs on without a control API.
    public static func buildApplication(
        socket: ControlSocket,
        supervisor: Supervisor,
        logger: Logger
    ) -> some ApplicationProtocol {
        Application(
            router: buildRouter(supervisor: supervisor),
            server: HTTPServerPolicy.http1(),
            configuration: ApplicationConfiguration(
                address: .unixDomainSocket(path: socket.bindPath),
                serverName: "orderd"
            ),
            onServerRunning: { _ in
                do {
                    try socket.publish()
                } catch {
                    logger.critical("\(error); `orderd status` and the other commands cannot reach this orderd")
                }
            },
            logger: logger
        )
    }
}
