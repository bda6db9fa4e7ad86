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
///   404 for an unknown service or command.
public enum ControlServer {
    /// Why the control socket could not be set up; orderd exits instead of running without it.
    public enum SocketError: Error, CustomStringConvertible {
        /// Another orderd holds the socket's lock (the path).
        case inUse(String)
        /// The socket or its directory cannot be created or bound (the path, the reason).
        case unusable(String, String)

        /// Names the path and says what to do.
        public var description: String {
            switch self {
            case .inUse(let path):
                "another orderd is already running on \(path); stop it first (orderd status shows it)"
            case .unusable(let path, let reason): "cannot use control socket \(path): \(reason)"
            }
        }
    }

    /// Refuses when another orderd holds the socket (an exclusive `flock` on `<path>.lock`,
    /// held for the life of this process, makes the check atomic), removes a stale socket
    /// file, and creates the socket's directory (0700) when missing.
    public static func prepareSocket(_ path: String) throws(SocketError) {
        let directory = (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory,
                    withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700]
                )
            } catch {
                throw .unusable(path, "cannot create \(directory): \(error.localizedDescription)")
            }
        }
        let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw .unusable(path, "cannot open \(path).lock: \(String(cString: strerror(errno)))") }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            close(lock)
            throw .inUse(path)
        }
        // The descriptor stays open (and locked) until the process exits.
        if FileManager.default.fileExists(atPath: path) {
            if isListening(path) { throw .inUse(path) }
            unlink(path)
        }
    }

    /// True when something accepts connections on the Unix socket `path`.
    public static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }

    /// Restricts the socket to its owner (0600), or to `group` (0660).
    public static func secure(_ path: String, group: String?, logger: Logger) {
        guard let group else {
            chmod(path, 0o600)
            return
        }
        guard let entry = getgrnam(group) else {
            logger.error("control socket group \(group) does not exist; keeping the socket owner-only (0600)")
            chmod(path, 0o600)
            return
        }
        chown(path, uid_t.max, entry.pointee.gr_gid)
        chmod(path, 0o660)
    }

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
                return try JSONResponse.make(.notFound, ["error": error.description])
            }
        }
        return router
    }

    /// The control API server on the Unix socket `path`, secured (``secure(_:group:logger:)``) as
    /// soon as it listens. Runs as a `Service` until graceful shutdown.
    public static func buildApplication(
        path: String,
        group: String?,
        supervisor: Supervisor,
        logger: Logger
    ) -> some ApplicationProtocol {
        Application(
            router: buildRouter(supervisor: supervisor),
            server: HTTPServerPolicy.http1(),
            configuration: ApplicationConfiguration(address: .unixDomainSocket(path: path), serverName: "orderd"),
            onServerRunning: { _ in secure(path, group: group, logger: logger) },
            logger: logger
        )
    }
}
