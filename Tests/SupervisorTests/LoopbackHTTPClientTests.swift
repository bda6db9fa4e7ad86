import CProcessControl
import Foundation
import NIOCore
import NIOHTTP1
@testable import Supervisor
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// ``LoopbackHTTPClient`` against a real socket server that answers with canned bytes: every
/// body framing, both transports, and each typed failure.
@Suite("Loopback HTTP client", .timeLimit(.minutes(1)))
struct LoopbackHTTPClientTests {
    typealias Client = LoopbackHTTPClient

    @Test("GET over TCP: Content-Length body, and the request asks to close the connection")
    func contentLength() async throws {
        let server = try CannedServer(.tcp, answer: .bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
        let response = try await Client(server.endpoint, timeout: .seconds(5)).get("/ready")
        #expect(response.status == .ok && response.isSuccess)
        #expect(String(buffer: response.body) == "hello")
        let request = try #require(server.requests.first)
        #expect(request.hasPrefix("GET /ready HTTP/1.1\r\n"))
        #expect(request.lowercased().contains("connection: close\r\n"))
    }

    @Test("a chunked body is decoded whole")
    func chunked() async throws {
        let server = try CannedServer(
            .tcp,
            answer: .bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n")
        )
        let response = try await Client(server.endpoint, timeout: .seconds(5)).get("/metrics")
        #expect(String(buffer: response.body) == "abcdefg")
        #expect(server.requests.count == 1)
    }

    @Test("a body that ends with the connection is read to the end")
    func closeDelimited() async throws {
        let server = try CannedServer(.tcp, answer: .bytes("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"))
        let response = try await Client(server.endpoint, timeout: .seconds(5)).get("/")
        #expect(String(buffer: response.body) == "until the end")
        #expect(server.requests.count == 1)
    }

    @Test("POST over a Unix socket: an empty body is sent with Content-Length 0; a 404 is a response, not an error")
    func unixSocketPost() async throws {
        let server = try CannedServer(
            .unix,
            answer: .bytes("HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\n{\"error\":\"x\"}")
        )
        let response = try await Client(server.endpoint, timeout: .seconds(5)).post("/v1/services/x/start")
        #expect(response.status == .notFound && !response.isSuccess)
        #expect(String(buffer: response.body) == #"{"error":"x"}"#)
        let request = try #require(server.requests.first)
        #expect(request.hasPrefix("POST /v1/services/x/start HTTP/1.1\r\n"))
        #expect(request.lowercased().contains("content-length: 0\r\n"))
    }

    @Test("no answer within the timeout: timedOut, promptly")
    func timeout() async throws {
        let server = try CannedServer(.tcp, answer: .silence)
        let began = ContinuousClock.now
        // Long enough for the request to reach the server on a loaded machine (it is counted below).
        let failure = await Self.failure(Client(server.endpoint, timeout: .seconds(1)), get: "/health")
        #expect(failure == .timedOut(server.endpoint, after: Duration.seconds(1)))
        // Without the timeout the request would wait for the silent server forever; the bound only
        // has to tell "ended by the timeout" from that, on a loaded machine too.
        #expect(ContinuousClock.now - began < .seconds(20))
        #expect(server.requests.count == 1)
    }

    @Test("a connection closed before a complete response: closedBeforeResponse")
    func closedEarly() async throws {
        let server = try CannedServer(.tcp, answer: .bytes("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"))
        let failure = await Self.failure(Client(server.endpoint, timeout: .seconds(5)), get: "/")
        switch failure {
        case .closedBeforeResponse(let endpoint)?: #expect(endpoint == server.endpoint)
        case .exchangeFailed(let endpoint, _)?: #expect(endpoint == server.endpoint)  // NIO's "truncated body" error
        default: Issue.record("expected the early close to fail the request, got \(String(describing: failure))")
        }
        let nothing = try CannedServer(.tcp, answer: .bytes(""))
        #expect(
            await Self.failure(Client(nothing.endpoint, timeout: .seconds(5)), get: "/")
                == .closedBeforeResponse(nothing.endpoint)
        )
        #expect(server.requests.count == 1 && nothing.requests.count == 1)
    }

    @Test("a body over the limit: bodyTooLarge")
    func tooLarge() async throws {
        let body = String(repeating: "x", count: 2000)
        let server = try CannedServer(.tcp, answer: .bytes("HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n\(body)"))
        let client = Client(server.endpoint, timeout: .seconds(5), maximumBodyBytes: 1000)
        let failure = await Self.failure(client, get: "/metrics")
        #expect(failure == .bodyTooLarge(server.endpoint, limit: 1000))
        #expect(server.requests.count == 1)
    }

    @Test("nothing listening: connectFailed, with the endpoint in the message")
    func nothingListens() async throws {
        let path = "/tmp/loopback-none-\(UUID().uuidString.prefix(8)).sock"
        let failure = await Self.failure(Client(.unixSocket(path: path), timeout: .seconds(5)), get: "/")
        guard case .connectFailed(let endpoint, _)? = failure else {
            Issue.record("expected connectFailed, got \(String(describing: failure))")
            return
        }
        #expect(endpoint == .unixSocket(path: path))
        #expect(failure!.description.contains(path))
    }

    /// The failure of `GET path`, or nil when it got a response.
    static func failure(_ client: Client, get path: String) async -> Client.Failure? {
        do {
            _ = try await client.get(path)
            return nil
        } catch {
            return error
        }
    }
}

/// A one-thread socket server: for each connection it reads the request head, records it, then
/// writes `answer` and closes, or (`.silence`) keeps the connection open without a word until
/// the server goes away.
///
/// Its `deinit` closes the listener, and Swift may release a value right after its last use: a
/// test must use the server (for example `server.requests`) after its request, or the listener
/// can close before the connection is accepted and the request time out.
final class CannedServer: Sendable {
    enum Transport { case tcp, unix }
    enum Answer: Sendable {
        case bytes(String)
        case silence
    }

    let endpoint: LoopbackHTTPClient.Endpoint
    private let listener: Int32
    private let received = RequestLog()
    private let path: String?

    /// The request heads received so far.
    var requests: [String] { received.heads.withLock { $0 } }

    init(_ transport: Transport, answer: Answer) throws {
        let fd: Int32
        switch transport {
        case .tcp:
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            try #require(bound == 0)
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            endpoint = .tcp(host: "127.0.0.1", port: Int(UInt16(bigEndian: address.sin_port)))
            path = nil
        case .unix:
            let path = "/tmp/loopback-\(UUID().uuidString.prefix(8)).sock"
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = try #require(sockaddr_un(path: path))
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            try #require(bound == 0)
            endpoint = .unixSocket(path: path)
            self.path = path
        }
        listener = fd
        try #require(listen(fd, 8) == 0)
        let received = received
        Thread.detachNewThread {
            var held: [Int32] = []
            // Close-on-exec: a process another test spawns meanwhile must not inherit the connection and
            // hold it open after `close`, or the client would never see the end of a close-delimited body.
            while case let connection = cprocesscontrol_accept_cloexec(fd), connection >= 0 {
                var head: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !head.ends(with: Array("\r\n\r\n".utf8)) {
                    let count = read(connection, &buffer, buffer.count)
                    guard count > 0 else { break }
                    head += buffer[0..<count]
                }
                received.heads.withLock { $0.append(String(decoding: head, as: UTF8.self)) }
                guard case .bytes(let text) = answer else {
                    held.append(connection)
                    continue
                }
                let bytes = Array(text.utf8)
                _ = bytes.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(connection)
            }
            held.forEach { close($0) }
        }
    }

    deinit {
        // Wakes the accept loop (accept fails once the socket is shut down), which then ends.
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        if let path { unlink(path) }
    }
}

/// What a ``CannedServer`` received, shared with its accept thread.
final class RequestLog: Sendable {
    let heads = Mutex<[String]>([])
}

extension Array where Element: Equatable {
    fileprivate func ends(with suffix: [Element]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
