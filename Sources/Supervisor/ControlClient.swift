import Foundation
import NIOCore
import NIOHTTP1

/// The CLI's side of the control socket (see ``ControlServer``): one request per call, each
/// within 10 s.
public struct ControlClient: Sendable {
    /// The Unix socket of the running orderd.
    public let socketPath: String

    /// A client of the orderd listening on `socketPath`; connects only when called.
    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// Why a control call failed.
    public enum ClientError: Error, CustomStringConvertible {
        /// Nothing answers on the socket: orderd is not running (or runs with another socket).
        case unreachable(String, String)
        /// orderd answered but refused the request (its message), or answered something unreadable.
        case refused(String)

        /// What the CLI prints.
        public var description: String {
            switch self {
            case .unreachable(let path, let reason): "orderd is not reachable on \(path): \(reason)"
            case .refused(let message): message
            }
        }
    }

    /// `GET /v1/status`: every service's state.
    public func status() async throws(ClientError) -> DaemonStatus {
        try await call(.GET, "/v1/status")
    }

    /// `POST /v1/services/<service>/<command>`: the service's state right after the command.
    public func perform(_ command: Supervisor.Command, service: String) async throws(ClientError) -> ServiceStatus {
        try await call(.POST, "/v1/services/\(service)/\(command.rawValue)")
    }

    private func call<T: Decodable>(_ method: HTTPMethod, _ path: String) async throws(ClientError) -> T {
        let client = LoopbackHTTPClient(.unixSocket(path: socketPath), timeout: .seconds(10))
        let response: LoopbackHTTPClient.Response
        do {
            response = method == .POST ? try await client.post(path) : try await client.get(path)
        } catch {
            throw .unreachable(socketPath, error.description)
        }
        let body = Data(response.body.readableBytesView)
        guard response.status == .ok else {
            let message = (try? JSONDecoder().decode([String: String].self, from: body))?["error"]
            throw .refused(message ?? "orderd answered \(response.status.code)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch {
            throw .refused("unexpected answer from orderd: \(error)")
        }
    }
}
