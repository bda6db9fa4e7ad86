import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP/1.1 client for the endpoints orderd itself talks to: the children's `/health`,
/// `/ready` and `/metrics` on 127.0.0.1, and the control API on orderd's Unix socket.
///
/// Guarantees:
/// - One connection per request, sent with `Connection: close` and closed when the exchange
///   ends, whatever happens: no pool, no keep-alive state shared between requests or tasks.
/// - The whole exchange (connect, send, read the complete response) ends within ``timeout``;
///   cancelling the calling task ends it too.
/// - A body framed by `Content-Length`, by chunked transfer coding, or by the server closing the
///   connection is read whole (NIOHTTP1 decodes the framing), up to ``maximumBodyBytes``.
/// - Every failure is a ``Failure`` that names the endpoint and what went wrong.
///
/// Deliberately without TLS, redirects, proxies or retries: everything it talks to is local.
/// `Sendable`: a value type; each request runs on its own channel of NIO's shared event loops.
public struct LoopbackHTTPClient: Sendable {
    /// Where requests go.
    public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
        /// A TCP listener, such as a child's operations port on 127.0.0.1.
        case tcp(host: String, port: Int)
        /// A Unix stream socket, such as orderd's control socket.
        case unixSocket(path: String)

        /// `http://host:port` or `unix:path`, as error messages name it.
        public var description: String {
            switch self {
            case .tcp(let host, let port): "http://\(host):\(port)"
            case .unixSocket(let path): "unix:\(path)"
            }
        }
    }

    /// A complete response: status, headers and the whole (decoded) body.
    public struct Response: Sendable {
        /// The final status (interim 1xx answers are skipped).
        public var status: HTTPResponseStatus
        /// The response headers as received.
        public var headers: HTTPHeaders
        /// The whole body with transfer coding removed; empty when there is none.
        public var body: ByteBuffer

        /// True for a 2xx status.
        public var isSuccess: Bool { (200..<300).contains(status.code) }
    }

    /// Why a request got no complete response.
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// Nothing accepted the connection (nothing listens, or the socket path is unusable).
        case connectFailed(Endpoint, reason: String)
        /// No complete response within the timeout, counted from the connect.
        case timedOut(Endpoint, after: Duration)
        /// The server closed the connection before the response was complete.
        case closedBeforeResponse(Endpoint)
        /// The response body is longer than the client accepts.
        case bodyTooLarge(Endpoint, limit: Int)
        /// What came back is not HTTP/1.1, or the exchange failed on the way.
        case exchangeFailed(Endpoint, reason: String)

        /// Names the endpoint and says what happened.
        public var description: String {
            switch self {
            case .connectFailed(let endpoint, let reason): "cannot connect to \(endpoint): \(reason)"
            case .timedOut(let endpoint, let after): "\(endpoint) did not answer within \(after)"
            case .closedBeforeResponse(let endpoint): "\(endpoint) closed the connection before a complete response"
            case .bodyTooLarge(let endpoint, let limit): "\(endpoint) answered with a body over \(limit) bytes"
            case .exchangeFailed(let endpoint, let reason): "HTTP exchange with \(endpoint) failed: \(reason)"
            }
        }
    }

    /// Where every request of this client goes.
    public var endpoint: Endpoint
    /// The bound on one whole request, connecting included.
    public var timeout: Duration
    /// Longer bodies fail the request with ``Failure/bodyTooLarge(_:limit:)``.
    public var maximumBodyBytes: Int

    /// A client for `endpoint`; it connects only when a request is made.
    public init(_ endpoint: Endpoint, timeout: Duration, maximumBodyBytes: Int = 4 * 1024 * 1024) {
        self.endpoint = endpoint
        self.timeout = timeout
        self.maximumBodyBytes = maximumBodyBytes
    }

    /// `GET path`; any status is a response (check ``Response/status``).
    public func get(_ path: String) async throws(Failure) -> Response {
        try await execute(.GET, path, body: nil)
    }

    /// `POST path` with `body` (sent as `application/json`) or an empty body.
    public func post(_ path: String, body: ByteBuffer? = nil) async throws(Failure) -> Response {
        try await execute(.POST, path, body: body)
    }

    private typealias Connection = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    private func execute(_ method: HTTPMethod, _ path: String, body: ByteBuffer?) async throws(Failure) -> Response {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        switch endpoint {
        case .tcp(let host, let port): head.headers.add(name: "Host", value: "\(host):\(port)")
        case .unixSocket: head.headers.add(name: "Host", value: "localhost")
        }
        head.headers.add(name: "User-Agent", value: "orderd")
        head.headers.add(name: "Connection", value: "close")
        if method == .POST || body != nil {
            head.headers.add(name: "Content-Length", value: String(body?.readableBytes ?? 0))
        }
        if body != nil { head.headers.add(name: "Content-Type", value: "application/json") }
        let request = head
        let endpoint = endpoint
        let timeout = timeout
        do {
            // The timer is a deadline, not polling: whichever child finishes first decides, and
            // leaving the group cancels the other (which closes the connection).
            return try await withThrowingTaskGroup(of: Response.self) { group in
                group.addTask { try await self.exchange(request, body: body) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw Failure.timedOut(endpoint, after: timeout)
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .exchangeFailed(endpoint, reason: "\(error)")
        }
    }

    private func exchange(_ head: HTTPRequestHead, body: ByteBuffer?) async throws -> Response {
        let connection = try await connect()
        return try await connection.executeThenClose { inbound, outbound in
            var parts: [HTTPClientRequestPart] = [.head(head)]
            if let body { parts.append(.body(.byteBuffer(body))) }
            parts.append(.end(nil))
            // A server may answer and close as soon as it has the request head, before the rest is
            // written (seen with a GET's empty end: "I/O on closed channel"). Its answer is in the
            // inbound stream by then, so the answer decides: a failed write is the connection
            // closing, which the inbound stream reports as closedBeforeResponse when no answer came.
            do { try await outbound.write(contentsOf: parts) } catch {}
            var response: Response?
            for try await part in inbound {
                switch part {
                case .head(let received):
                    // An interim 1xx answer precedes the real one.
                    guard !(100..<200).contains(received.status.code) else { continue }
                    response = Response(status: received.status, headers: received.headers, body: ByteBuffer())
                case .body(var chunk):
                    guard response != nil else { continue }
                    guard response!.body.readableBytes + chunk.readableBytes <= maximumBodyBytes else {
                        throw Failure.bodyTooLarge(endpoint, limit: maximumBodyBytes)
                    }
                    response!.body.writeBuffer(&chunk)
                case .end:
                    if let response { return response }
                }
            }
            throw Failure.closedBeforeResponse(endpoint)
        }
    }

    private func connect() async throws(Failure) -> Connection {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.nanoseconds(timeout.nanoseconds))
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Connection> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try Connection(wrappingChannelSynchronously: channel)
            }
        }
        do {
            switch endpoint {
            case .tcp(let host, let port):
                return try await bootstrap.connect(host: host, port: port, channelInitializer: initializer)
            case .unixSocket(let path):
                return try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: initializer)
            }
        } catch ChannelError.connectTimeout {
            // The connect timeout is the exchange's: a busy peer that has not accepted by then has
            // not answered in time, the same as one that accepted and stayed silent.
            throw .timedOut(endpoint, after: timeout)
        } catch {
            throw .connectFailed(endpoint, reason: "\(error)")
        }
    }
}
