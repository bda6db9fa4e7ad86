import NIOCore
import NIOHTTP1
import NIOPosix

/// An HTTP answer: the status and, when asked for, the body.
struct HTTPReply: Sendable {
    var status: UInt
    var body: ByteBuffer?
}

/// Why one request got no answer.
enum HTTPClientError: Error, Sendable, CustomStringConvertible {
    case connect(String)
    case timedOut
    case connectionClosed
    case io(String)

    var description: String {
        switch self {
        case .connect(let reason): "cannot connect: \(reason)"
        case .timedOut: "timed out"
        case .connectionClosed: "connection closed"
        case .io(let reason): reason
        }
    }

    /// The key under which failures of this kind are counted.
    var reason: String {
        switch self {
        case .connect: "connect error"
        case .timedOut: "timeout"
        case .connectionClosed: "connection closed"
        case .io: "io error"
        }
    }
}

/// One keep-alive HTTP/1.1 connection that carries one request at a time.
///
/// Deliberately lean (no pooling, redirects or TLS): the bench shares the machine's cores with the
/// platform it measures, so each request costs one write and one read on a single event loop.
/// After any failure the connection is closed and ``isUsable`` is false: take a new one.
final class HTTPConnection: Sendable {
    private let channel: any Channel
    private let endpoint: APIEndpoint

    private init(channel: any Channel, endpoint: APIEndpoint) {
        self.channel = channel
        self.endpoint = endpoint
    }

    static func connect(
        to endpoint: APIEndpoint,
        on group: any EventLoopGroup
    ) async throws(HTTPClientError) -> HTTPConnection {
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ExchangeHandler())
                }
            }
        do {
            let channel = try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
            return HTTPConnection(channel: channel, endpoint: endpoint)
        } catch {
            throw .connect("\(endpoint): \(error)")
        }
    }

    var isUsable: Bool { channel.isActive }

    /// Sends one request and waits for the whole response, at most `timeout`.
    func send(
        _ method: HTTPMethod,
        _ uri: String,
        body: ByteBuffer? = nil,
        collectBody: Bool = false,
        timeout: Duration
    ) async throws(HTTPClientError) -> HTTPReply {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: uri)
        head.headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
        if let body {
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: String(body.readableBytes))
        }
        let promise = channel.eventLoop.makePromise(of: HTTPReply.self)
        let exchange = Exchange(head: head, body: body, collectBody: collectBody, promise: promise)
        // The first completion of the promise wins (NIO ignores later ones), so the timeout, a
        // failed write and the handler may race. A timed-out connection is closed: a late
        // response must not be taken for the next request's.
        let deadline = channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.wholeNanoseconds)) { [channel] in
            promise.fail(HTTPClientError.timedOut)
            channel.close(promise: nil)
        }
        // A write to a channel that is already closed never reaches the handler.
        channel.writeAndFlush(exchange).whenFailure { _ in promise.fail(HTTPClientError.connectionClosed) }
        do {
            let reply = try await promise.futureResult.get()
            deadline.cancel()
            return reply
        } catch let error as HTTPClientError {
            deadline.cancel()
            throw error
        } catch {
            deadline.cancel()
            throw .io("\(error)")
        }
    }

    func close() async {
        try? await channel.close()
    }
}

/// A request handed to the pipeline together with the promise its response completes.
private struct Exchange: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    var collectBody: Bool
    var promise: EventLoopPromise<HTTPReply>
}

/// Writes an ``Exchange`` and completes its promise with the response; fails it when the
/// connection breaks. Lives on the channel's event loop only.
private final class ExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Exchange
    typealias OutboundOut = HTTPClientRequestPart

    private var pending: Exchange?
    private var status: UInt = 0
    private var body: ByteBuffer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard pending == nil else {
            exchange.promise.fail(HTTPClientError.io("a request is already in flight on this connection"))
            return
        }
        pending = exchange
        status = 0
        body = nil
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        if let payload = exchange.body {
            context.write(wrapOutboundOut(.body(.byteBuffer(payload))), promise: nil)
        }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = head.status.code
        case .body(var part):
            guard pending?.collectBody == true else { return }
            if body == nil {
                body = part
            } else {
                body!.writeBuffer(&part)
            }
        case .end:
            guard let exchange = pending else { return }
            pending = nil
            exchange.promise.succeed(HTTPReply(status: status, body: body))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(HTTPClientError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(HTTPClientError.io("\(error)"))
        context.close(promise: nil)
    }

    private func fail(_ error: HTTPClientError) {
        pending?.promise.fail(error)
        pending = nil
    }
}
