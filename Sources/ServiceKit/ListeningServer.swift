import Foundation
import NIOCore
import ServiceLifecycle

/// Why an HTTP server could not start listening.
public struct ListenError: Error, CustomStringConvertible {
    /// `host:port`.
    public var address: String
    /// The variable that sets the address, for example `METRICS_PORT`.
    public var variable: String
    /// NIO's error.
    public var cause: IOError

    /// Names the address, the cause and what to change.
    public var description: String {
        "cannot listen on \(address) (\(variable)): \(cause)"
            + (cause.errnoCode == EADDRINUSE
                ? "; another process holds it: stop it, or set \(variable) to a free port" : "")
    }
}

/// An HTTP server `Service` whose failure to listen names the address and the variable that
/// sets it: NIO's own error says only `bind(descriptor:ptr:bytes:): Address already in use`.
public struct ListeningServer<Server: Service>: Service {
    let server: Server
    let address: String
    let variable: String

    /// `server` listening on `host:port`, set by `variable`.
    public init(_ server: Server, host: String, port: Int, variable: String) {
        self.server = server
        self.address = "\(host):\(port)"
        self.variable = variable
    }

    /// Runs the server; a failure to bind becomes a ``ListenError``.
    public func run() async throws {
        do {
            try await server.run()
        } catch let error as IOError where [EADDRINUSE, EADDRNOTAVAIL, EACCES].contains(error.errnoCode) {
            throw ListenError(address: address, variable: variable, cause: error)
        }
    }
}
