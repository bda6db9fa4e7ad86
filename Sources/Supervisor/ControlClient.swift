import AsyncHTTPClient
import Foundation
import NIOCore

/// The CLI's side of the control socket.
public struct ControlClient: Sendable {
    public let socketPath: String

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    public enum ClientError: Error, CustomStringConvertible {
        /// Nothing answers on the socket: orderd is not running (or runs with another socket).
        case unreachable(String, String)
        case refused(String)

        public var description: String {
            switch self {
            case .unreachable(let path, let reason): "orderd is not reachable on \(path): \(reason)"
            case .refused(let message): message
            }
        }
    }

    public func status() async throws(ClientError) -> DaemonStatus {
        try await call("GET", "/v1/status")
    }

    public func perform(_ command: Supervisor.Command, service: String) async throws(ClientError) -> ServiceStatus {
        try await call("POST", "/v1/services/\(service)/\(command.rawValue)")
    }

    private func call<T: Decodable>(_ method: String, _ path: String) async throws(ClientError) -> T {
        guard let url = URL(httpURLWithSocketPath: socketPath, uri: path) else {
            throw .unreachable(socketPath, "not a usable socket path")
        }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .init(rawValue: method)
        let body: ByteBuffer
        let code: UInt
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            code = response.status.code
            body = try await response.body.collect(upTo: 4 * 1024 * 1024)
        } catch {
            throw .unreachable(socketPath, "\(error)")
        }
        guard code == 200 else {
            let message = (try? JSONDecoder().decode([String: String].self, from: Data(buffer: body)))?["error"]
            throw .refused(message ?? "orderd answered \(code)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: body))
        } catch {
            throw .refused("unexpected answer from orderd: \(error)")
        }
    }
}
