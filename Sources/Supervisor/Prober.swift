import Foundation
import NIOCore

/// HTTP probes of a child's operations endpoints (`/health`, `/ready`, `/metrics`) on
/// 127.0.0.1, each request bounded by ``timeout``.
///
/// Never throws: a child that does not answer, answers late, or answers something unusable is
/// a failed probe (or a missing scrape); the supervision state machine decides what that means.
public struct Prober: Sendable {
    /// The bound on one probe or scrape, connecting included.
    public var timeout: Duration

    /// A prober whose every request ends within `timeout`.
    public init(timeout: Duration) {
        self.timeout = timeout
    }

    /// True when `GET http://127.0.0.1:<port><path>` answers 2xx within the timeout.
    public func check(port: Int, path: String) async -> Bool {
        let client = LoopbackHTTPClient(
            .tcp(host: "127.0.0.1", port: port),
            timeout: timeout,
            maximumBodyBytes: 64 * 1024
        )
        return (try? await client.get(path))?.isSuccess ?? false
    }

    /// The body of `GET /metrics` when it answers 200 within the timeout, else nil.
    public func scrape(port: Int) async -> String? {
        let client = LoopbackHTTPClient(
            .tcp(host: "127.0.0.1", port: port),
            timeout: timeout,
            maximumBodyBytes: 16 * 1024 * 1024
        )
        guard let response = try? await client.get("/metrics"), response.status == .ok else { return nil }
        return String(buffer: response.body)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }

    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
