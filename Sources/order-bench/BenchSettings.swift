import Foundation
import Logging
import Storage

/// Everything one run needs, validated: built by ``BenchCommand`` from the command line, read by
/// every other part. Immutable and `Sendable`.
struct BenchSettings: Sendable {
    /// How sends are paced.
    enum Load: Sendable, Hashable {
        /// Sends at fixed times `start + i / rate`; latency counts from that time (no coordinated omission).
        case open(rate: Double)
        /// Every connection sends back-to-back; latency counts from the actual send.
        case closed

        var name: String {
            switch self {
            case .open: "open"
            case .closed: "closed"
            }
        }
    }

    /// Which platform the orders go to.
    enum Target: Sendable, Hashable {
        /// `orderd run` started (and stopped) by the bench on the embedded broker.
        case hosted(serviceLogLevel: Logger.Level, keepDirectory: Bool)
        /// A platform that is already running; `embeddedBroker` when it runs on orderd's mock broker.
        case external(api: APIEndpoint, brokers: String, embeddedBroker: Bool)
    }

    /// Where the hosted platform keeps its state, and how many instances of each service it runs.
    struct Scale: Sendable, Hashable {
        /// A PostgreSQL server on which the bench creates a database for the run (and drops it
        /// after); nil: SQLite files in the run's directory.
        var database: DatabaseURL?
        /// Instances of every service (`instances` in orderd's configuration); above 1 needs
        /// ``database``.
        var instances = 1
    }

    var load: Load
    var connections: Int
    var duration: Duration
    var warmup: Duration
    var drainTimeout: Duration
    var requestTimeout: Duration
    var target: Target
    /// The hosted platform's store and instances (SQLite, one each, by default).
    var scale = Scale()
    /// Messages of the raw Kafka throughput phase; nil skips the baseline.
    var baselineMessages: Int?
    var json: Bool
    /// Short random id: names the orders (`bench-<runId>-<n>`), consumer groups and the baseline topic.
    var runId: String

    var isHosted: Bool {
        if case .hosted = target { true } else { false }
    }

    /// Whether the broker is librdkafka's mock: it needs ``Kafka/EmbeddedKafkaCluster/lowLatencyProperties``
    /// and has no admin API.
    var usesEmbeddedBroker: Bool {
        switch target {
        case .hosted: true
        case .external(_, _, let embeddedBroker): embeddedBroker
        }
    }

    var orderIdPrefix: String { "bench-\(runId)-" }
    var consumerGroup: String { "order-bench-\(runId)" }
    var baselineTopic: String { "order-bench.baseline-\(runId)" }

    /// Runs long enough to be watched get a progress line every second on stderr.
    var showsProgress: Bool { warmup + duration > .seconds(3) }

    static func newRunId() -> String {
        String(UUID().uuidString.lowercased().prefix(8))
    }
}

/// The order API's address: `http://host:port`, nothing else (no TLS, no path).
struct APIEndpoint: Sendable, Hashable, CustomStringConvertible {
    var host: String
    var port: Int

    var description: String { "http://\(host):\(port)" }

    /// Parses `http://host[:port][/]`.
    /// - Returns: nil with a reason in `problem` when the URL is not of that form.
    static func parse(_ text: String) -> Result<APIEndpoint, APIEndpointError> {
        guard let components = URLComponents(string: text), let scheme = components.scheme else {
            return .failure(APIEndpointError(text: text, reason: "not a URL"))
        }
        guard scheme == "http" else {
            return .failure(APIEndpointError(text: text, reason: "only http:// is supported, not \(scheme)://"))
        }
        guard let host = components.host, !host.isEmpty else {
            return .failure(APIEndpointError(text: text, reason: "no host"))
        }
        guard components.path.isEmpty || components.path == "/", components.query == nil else {
            return .failure(APIEndpointError(text: text, reason: "give the base URL only, without a path or query"))
        }
        let port = components.port ?? 80
        guard (1...65535).contains(port) else {
            return .failure(APIEndpointError(text: text, reason: "port \(port) is out of range"))
        }
        return .success(APIEndpoint(host: host, port: port))
    }
}

struct APIEndpointError: Error, CustomStringConvertible {
    var text: String
    var reason: String
    var description: String { "--api \(text): \(reason) (expected http://host:port)" }
}
