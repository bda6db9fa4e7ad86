import Hummingbird
import HummingbirdCore
import NIOCore

/// How the platform's HTTP servers treat connections. Every server uses it: the order API, each
/// service's operations endpoints, and orderd's metrics endpoint and control API.
public enum HTTPServerPolicy {
    /// A connection that completes no request part for this long is closed: a keep-alive
    /// connection left idle, or one holding a partial request (a slow client, or one that means
    /// to exhaust the server's descriptors). Longer than a scraper's interval (Prometheus
    /// scrapes every 15 s by default), so keep-alive still saves the reconnects.
    public static let idleTimeout: Duration = .seconds(30)

    /// HTTP/1.1 closing connections idle for `idleTimeout`.
    public static func http1(idleTimeout: Duration = idleTimeout) -> HTTPServerBuilder {
        .http1(configuration: HTTP1Channel.Configuration(idleTimeout: TimeAmount(idleTimeout)))
    }
}
