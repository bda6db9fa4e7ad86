import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The shipped monitoring (etc/prometheus, etc/grafana) against a live `orderd run` scraped by a
/// real Prometheus: a renamed metric or label fails here, not on a dashboard in production. The
/// static checks (`promtool check config`, `check rules`, `test rules`) are scripts/check-monitoring.
@Suite("End to end: the shipped alerts and dashboards against orderd and a real Prometheus", .serialized)
struct MonitoringTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let job = "order-platform"

    /// An order the test posts and the terminal state it must reach.
    struct PostedOrder: Sendable {
        var id: String
        var body: String
        var status: String
        var reason: String?
    }

    /// Completing, declined (payment) and out-of-stock orders, so every outcome series exists.
    static let orders: [PostedOrder] =
        (1...14).map {
            PostedOrder(id: "mon-\($0)", body: #"{"orderId":"mon-\#($0)","amount":\#(42 + $0)}"#, status: "COMPLETED")
        }
        + (1...3).map {
            PostedOrder(
                id: "mon-declined-\($0)",
                body: #"{"orderId":"mon-declined-\#($0)","amount":20000}"#,
                status: "CANCELLED",
                reason: "payment_declined"
            )
        }
        + (1...3).map {
            PostedOrder(
                id: "mon-oos-\($0)",
                body: #"{"orderId":"mon-oos-\#($0)","amount":99.90,"items":[{"sku":"GADGET","quantity":50}]}"#,
                status: "CANCELLED",
                reason: "out_of_stock"
            )
        }

    @Test("every alert, recording rule and dashboard expression evaluates on a live platform; no alert fires on it")
    func shippedRulesAndDashboards() async throws {
        let executable = try PrometheusHarness.executable()
        let configPath = "\(Self.repository)/etc/prometheus/prometheus.yml"
        let shipped = try ShippedPrometheusConfig.load(configPath, job: Self.job)
        #expect(shipped.jobs.filter { $0 == Self.job }.count == 1, "one \(Self.job) job in \(shipped.jobs)")

        let orderd = try OrderdHarness()
        try await orderd.start()
        try await orderd.waitUntilAllReady()
        let prometheus = try await PrometheusHarness.start(
            executable,
            job: Self.job,
            metricsPath: shipped.metricsPath,
            target: "127.0.0.1:\(orderd.metricsPort)",
            ruleFiles: shipped.ruleFiles,
            root: orderd.root
        )

        try await postOrders(to: orderd)
        let terminalAt = Date().timeIntervalSince1970
        let at = try await twoScrapes(after: terminalAt, by: prometheus)
        try await waitForRuleEvaluation(by: prometheus)

        try await checkRules(prometheus, shipped: shipped, at: at)
        let directory = "\(Self.repository)/etc/grafana/dashboards"
        let dashboards = (FileManager.default.subpaths(atPath: directory) ?? []).filter { $0.hasSuffix(".json") }
            .sorted().map { "\(directory)/\($0)" }
        #expect(!dashboards.isEmpty, "no dashboard under etc/grafana/dashboards")
        for file in dashboards {
            try await checkDashboard(try Dashboard.load(file), prometheus, at: at)
        }

        try await prometheus.stop()
        kill(orderd.pid, SIGTERM)
        #expect(try await orderd.waitForExit(timeout: .seconds(30)) == 0, "orderd exits 0 on SIGTERM")
    }

    /// Posts every order of ``orders`` (202), a repeat (200) and an invalid one (400), so each
    /// `orders_received_total` outcome but conflict exists, then waits until each is terminal as expected.
    func postOrders(to orderd: OrderdHarness) async throws {
        for order in Self.orders {
            let reply = try await orderd.request(.POST, port: orderd.apiPort, path: "/order", body: order.body)
            #expect(reply.status == 202, "\(order.id): HTTP \(reply.status) \(reply.body.prefix(120))")
        }
        let repeated = try await orderd.request(.POST, port: orderd.apiPort, path: "/order", body: Self.orders[0].body)
        #expect(repeated.status == 200, "a repeat of \(Self.orders[0].id)")
        let invalid = #"{"orderId":"mon-invalid","amount":-1}"#
        #expect(try await orderd.request(.POST, port: orderd.apiPort, path: "/order", body: invalid).status == 400)

        let finished = Locked<[String: OrderSnapshot]>([:])
        try await waitUntil(timeout: .seconds(90), "all \(Self.orders.count) orders to be terminal") {
            for order in Self.orders where finished.withLock({ $0[order.id] == nil }) {
                let reply = try await orderd.request(.GET, port: orderd.apiPort, path: "/orders/\(order.id)")
                guard reply.status == 200 else { continue }
                let snapshot = try JSONDecoder().decode(OrderSnapshot.self, from: Data(reply.body.utf8))
                if snapshot.isTerminal { finished.withLock { $0[order.id] = snapshot } }
            }
            return finished.withLock { $0.count } == Self.orders.count
        }
        let states = finished.withLock { $0 }
        for order in Self.orders {
            #expect(states[order.id]?.status == order.status, "\(order.id)")
            #expect(states[order.id]?.reason == order.reason, "\(order.id)")
        }
    }

    /// Waits for two successful scrapes of orderd after `time`; returns the time of the last one,
    /// at which every expression is evaluated (a later failed scrape would mark the series stale).
    func twoScrapes(after time: Double, by prometheus: PrometheusHarness) async throws -> Double {
        let scraped = Locked<Double?>(nil)
        try await waitUntil(
            timeout: .seconds(30),
            "two successful scrapes of orderd; log:\n\(prometheus.log.suffix(2000))"
        ) {
            let last = try await prometheus.query(#"timestamp(up{job="\#(Self.job)"} == 1)"#)
            guard let stamp = last.values.first, stamp > time else { return false }
            let window = Int((stamp - time) * 1000)
            let count = try await prometheus.query(#"sum_over_time(up{job="\#(Self.job)"}[\#(window)ms])"#, at: stamp)
            guard let successes = count.values.first, successes >= 2 else { return false }
            scraped.withLock { $0 = stamp }
            return true
        }
        return scraped.withLock { $0! }
    }

    /// Waits until every rule group has been evaluated again since now.
    func waitForRuleEvaluation(by prometheus: PrometheusHarness) async throws {
        let before = try await prometheus.ruleGroups().map(\.lastEvaluation)
        try await waitUntil(timeout: .seconds(30), "every rule group to be evaluated after the last scrape") {
            let now = try await prometheus.ruleGroups().map(\.lastEvaluation)
            return now.count == before.count && zip(now, before).allSatisfy { $0 != $1 }
        }
    }

    /// Every rule loaded, healthy and accepted as a query; every metric it selects exported by the
    /// platform (kafka-exporter's excepted); no alert firing except one on kafka-exporter.
    func checkRules(_ prometheus: PrometheusHarness, shipped: ShippedPrometheusConfig, at: Double) async throws {
        #expect(shipped.ruleCount > 0, "the shipped rule files \(shipped.ruleFiles) hold no rule")
        let rules = try await prometheus.ruleGroups().flatMap(\.rules)
        #expect(rules.count == shipped.ruleCount, "Prometheus loaded \(rules.count) of \(shipped.ruleCount) rules")
        for rule in rules {
            #expect(rule.health == "ok", "\(rule.type) rule \(rule.name): \(rule.lastError ?? rule.health)")
            let result = try await prometheus.query(rule.query, at: at)
            #expect(result.error == nil, "\(rule.type) rule \(rule.name): \(result.error ?? "")")
        }

        let scraped = try await prometheus.metricNames()
        #expect(scraped.contains("orderd_service_up"), "Prometheus stored orderd's series")
        for rule in rules {
            let missing = selectedMetrics(rule.query).filter { !scraped.contains($0) && !dependsOnKafkaExporter($0) }
            #expect(missing.isEmpty, "\(rule.name) selects metrics the platform does not export: \(missing.sorted())")
        }

        let exporterAlerts = Set(rules.filter { $0.type == "alerting" && dependsOnKafkaExporter($0.query) }.map(\.name))
        let firing = try await prometheus.alerts().filter {
            $0.state == "firing" && !exporterAlerts.contains($0.labels["alertname"] ?? "")
        }
        #expect(firing.isEmpty, "alerts firing on the quiet platform: \(firing.map(\.described))")
    }

    /// Every query variable offers values; every panel and annotation expression parses; every
    /// visible one not on kafka-exporter returns data.
    func checkDashboard(_ dashboard: Dashboard, _ prometheus: PrometheusHarness, at: Double) async throws {
        #expect(!dashboard.queries.isEmpty, "\(dashboard.file) has no Prometheus expression")
        var resolved: [String: [String]] = [:]
        for variable in dashboard.variables {
            let values = try await prometheus.values(of: variable, in: dashboard, resolved: resolved, at: at)
            resolved[variable.name] = values
            if variable.type == "query" && !dependsOnKafkaExporter(variable.query ?? "") {
                let source = variable.query ?? ""
                #expect(!values.isEmpty, "\(dashboard.file): $\(variable.name) has no value from \(source)")
            }
        }
        for query in dashboard.queries {
            let expr = dashboard.substitute(query.expr, resolved: resolved)
            let label = "\(dashboard.file): \(query.title) [\(query.refId)]"
            let result = try await prometheus.query(expr, at: at)
            #expect(result.error == nil, "\(label) does not parse: \(result.error ?? "")\n  expr: \(expr)")
            guard result.error == nil, !query.hidden, !dependsOnKafkaExporter(query.expr) else { continue }
            #expect(!result.series.isEmpty, "\(label) returns no data\n  expr: \(expr)")
        }
    }
}
