import AsyncHTTPClient
import Foundation
import NIOCore

/// HTTP probes of a child's operations endpoints (`/health`, `/ready`) on 127.0.0.1.
public struct Prober: Sendable {
    public var timeout: Duration

    public init(timeout: Duration) {
        self.timeout = timeout
    }

    /// True when `GET http://127.0.0.1:<port><path>` answers 2xx within the timeout.
    public func check(port: Int, path: String) async -> Bool {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .GET
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(timeout.nanoseconds)))
            _ = try await response.body.collect(upTo: 64 * 1024)
            return (200..<300).contains(response.status.code)
        } catch {
            return false
        }
    }

    /// The body of `GET /metrics`, or nil when the child did not answer in time.
    public func scrape(port: Int) async -> String? {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics")
        request.method = .GET
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(timeout.nanoseconds)))
            guard response.status.code == 200 else { return nil }
            let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
            return String(buffer: body)
        } catch {
            return nil
        }
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
