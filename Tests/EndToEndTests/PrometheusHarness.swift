import Foundation
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#endif

/// A real `prometheus` server scraping one target every second with the given rule files, its
/// storage in a temporary directory, queried through its HTTP API.
final class PrometheusHarness: Sendable {
    let port: Int
    let root: String
    private let process: TestProcess

    var logPath: String { "\(root)/prometheus.log" }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    private init(port: Int, root: String, process: TestProcess) {
        self.port = port
        self.root = root
        self.process = process
    }

    /// The `prometheus` executable on PATH; throws, saying what to install, when there is none.
    static func executable() throws -> String {
        guard let path = findExecutable("prometheus") else {
            throw PlatformError("prometheus is not on PATH: install Debian's prometheus package (`make test-deps`)")
        }
        return path
    }

    /// Starts Prometheus on an ephemeral port and waits until it is ready; throws with its log when
    /// it exits or is not ready within 60 s.
    static func start(
        _ executable: String,
        job: String,
        metricsPath: String,
        target: String,
        ruleFiles: [String],
        root: String
    ) async throws -> PrometheusHarness {
        // JSON is YAML: Prometheus reads this configuration as it is.
        let configuration: [String: Any] = [
            "global": ["scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"],
            "rule_files": ruleFiles,
            "scrape_configs": [
                [
                    "job_name": job, "metrics_path": metricsPath, "scrape_interval": "1s", "scrape_timeout": "1s",
                    "static_configs": [["targets": [target]]],
                ] as [String: Any]
            ],
        ]
        let configPath = "\(root)/prometheus.yml"
        // Unescaped slashes: YAML has no `\/` escape.
        let text = try JSONSerialization.data(withJSONObject: configuration, options: .withoutEscapingSlashes)
        try text.write(to: URL(fileURLWithPath: configPath))
        let port = try freePort()
        let process = try await TestProcess.launch(
            executable,
            [
                "--config.file=\(configPath)", "--storage.tsdb.path=\(root)/tsdb",
                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
            ],
            environment: ProcessInfo.processInfo.environment,
            log: "\(root)/prometheus.log"
        )
        let prometheus = PrometheusHarness(port: port, root: root, process: process)
        try await waitUntil(timeout: .seconds(60), "prometheus to be ready; log:\n\(prometheus.log.suffix(2000))") {
            guard process.isRunning else { throw PlatformError("prometheus exited: \(prometheus.log.suffix(3000))") }
            let url = "http://127.0.0.1:\(port)/-/ready"
            return (try? await httpRequest(.GET, url: url, contentType: nil).status) == 200
        }
        return prometheus
    }

    /// SIGTERM, then waits up to 15 s for the exit.
    func stop() async throws {
        process.signal(SIGTERM)
        _ = try await process.waitForExit(timeout: .seconds(15))
    }

    deinit { process.signal(SIGKILL) }

    // MARK: HTTP API

    /// The decoded JSON answer of `GET path`, or of `POST path` with `form` URL-encoded.
    func api(_ path: String, form: [String: String]? = nil) async throws -> [String: Any] {
        let url = "http://127.0.0.1:\(port)\(path)"
        let reply =
            if let form {
                try await httpRequest(
                    .POST,
                    url: url,
                    body: Array(formEncoded(form).utf8),
                    contentType: "application/x-www-form-urlencoded"
                )
            } else {
                try await httpRequest(.GET, url: url, contentType: nil)
            }
        guard let json = try? reply.json(), json["status"] != nil else {
            throw PlatformError("\(path): HTTP \(reply.status) \(reply.body.prefix(300))")
        }
        return json
    }

    /// The same answer decoded into `T` (its `data` member).
    func api<T: Decodable>(_ path: String, as type: T.Type) async throws -> T {
        let url = "http://127.0.0.1:\(port)\(path)"
        let reply = try await httpRequest(.GET, url: url, contentType: nil)
        return try JSONDecoder().decode(APIReply<T>.self, from: Data(reply.body.utf8)).data
    }

    /// An instant query at `time` (seconds since 1970). `error` is Prometheus's message when it
    /// rejects or cannot evaluate the expression; `series` holds each result's labels.
    func query(_ expr: String, at time: Double? = nil) async throws -> QueryResult {
        var form = ["query": expr]
        if let time { form["time"] = String(format: "%.3f", time) }
        let json = try await api("/api/v1/query", form: form)
        guard json["status"] as? String == "success", let data = json["data"] as? [String: Any] else {
            return QueryResult(error: json["error"] as? String ?? "\(json)", series: [], values: [])
        }
        guard let vector = data["result"] as? [[String: Any]] else {
            // A scalar or string result is one value.
            return QueryResult(error: nil, series: [[:]], values: [])
        }
        return QueryResult(
            error: nil,
            series: vector.map { $0["metric"] as? [String: String] ?? [:] },
            values: vector.compactMap { (($0["value"] as? [Any])?.last as? String).flatMap(Double.init) }
        )
    }

    /// The names of every series Prometheus has stored.
    func metricNames() async throws -> Set<String> {
        Set(try await api("/api/v1/label/__name__/values", as: [String].self))
    }

    func ruleGroups() async throws -> [RuleGroup] {
        try await api("/api/v1/rules", as: RuleGroups.self).groups
    }

    func alerts() async throws -> [Alert] {
        try await api("/api/v1/alerts", as: Alerts.self).alerts
    }

    struct QueryResult: Sendable {
        var error: String?
        var series: [[String: String]]
        /// The sample value of each vector element, in `series` order.
        var values: [Double]
    }

    struct RuleGroups: Decodable { var groups: [RuleGroup] }
    struct RuleGroup: Decodable, Sendable {
        var name: String
        var lastEvaluation: String?
        var rules: [Rule]
    }
    struct Rule: Decodable, Sendable {
        var name: String
        var query: String
        var type: String
        var health: String
        var lastError: String?
    }
    struct Alerts: Decodable { var alerts: [Alert] }
    struct Alert: Decodable, Sendable {
        var labels: [String: String]
        var state: String

        var described: String {
            let rest = labels.filter { !["alertname", "severity"].contains($0.key) }.sorted { $0.key < $1.key }
            return "\(labels["alertname"] ?? "?"){\(rest.map { "\($0.key)=\($0.value)" }.joined(separator: ","))}"
        }
    }
}

/// Prometheus's `{"status": …, "data": …}` answer.
private struct APIReply<T: Decodable>: Decodable { var data: T }

private func formEncoded(_ fields: [String: String]) -> String {
    let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    return fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: unreserved)!)" }
        .joined(separator: "&")
}

/// The first executable called `name` in a directory of `$PATH`.
func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}
