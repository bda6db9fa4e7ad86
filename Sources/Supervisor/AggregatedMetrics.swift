import Foundation
import Hummingbird
import Logging
import NIOCore
import PrometheusExposition
import ServiceKit
import Synchronization

/// orderd's one Prometheus endpoint: every child's metrics with a `service` label, plus
/// orderd's own (`orderd_service_up`, `_ready`, `_restarts_total`, `_state`,
/// `orderd_probe_failures_total`, `orderd_scrape_duration_seconds`).
///
/// Children are scraped concurrently, each within the scrape timeout; a child that does not
/// answer (or answers unparsable text) costs only its own series and shows `up=0`. Requests that
/// arrive while a scrape is under way share its result: however many scrapers ask at once, each
/// child is scraped once.
public struct AggregatedMetrics: Sendable {
    let supervisor: Supervisor
    let scrapeTimeout: Duration
    private let inFlight = InFlightRender()

    /// Aggregates `supervisor`'s services, each scrape bounded by `scrapeTimeout`.
    public init(supervisor: Supervisor, scrapeTimeout: Duration) {
        self.supervisor = supervisor
        self.scrapeTimeout = scrapeTimeout
    }

    /// The render every request waits for while it runs.
    private final class InFlightRender: Sendable {
        let task = Mutex<Task<String, Never>?>(nil)
    }

    struct Scrape: Sendable {
        var service: String
        var families: [MetricFamily]?
        var duration: Duration
    }

    /// Scrapes every child concurrently and renders the merged exposition: one `# TYPE` per
    /// family, every child sample labelled `service`, orderd's own families last. Never fails;
    /// takes at most about the scrape timeout. A call made while another is under way returns
    /// that one's result.
    public func render() async -> String {
        let render = inFlight.task.withLock { current in
            if let current { return current }
            // Owned by every request that waits for it; not cancelled with any one of them, so
            // the others still get their answer (it is bounded by the scrape timeout).
            let render = Task { [self] in
                let text = await renderNow()
                inFlight.task.withLock { $0 = nil }
                return text
            }
            current = render
            return render
        }
        return await render.value
    }

    private func renderNow() async -> String {
        let status = await supervisor.status()
        let counters = await supervisor.counters()
        let prober = Prober(timeout: scrapeTimeout)
        let scrapes = await withTaskGroup(of: Scrape.self) { group in
            for (spec, _, _) in counters {
                group.addTask {
                    let started = ContinuousClock.now
                    let text = await prober.scrape(port: spec.metricsPort)
                    let families = text.flatMap { try? ExpositionParser.parse($0) }
                    return Scrape(service: spec.name, families: families, duration: ContinuousClock.now - started)
                }
            }
            var result: [String: Scrape] = [:]
            for await scrape in group { result[scrape.service] = scrape }
            return result
        }
        let order = counters.map(\.spec.name)
        let own = Self.ownFamilies(status: status, counters: counters, scrapes: scrapes)
        return ExpositionMerger.merge(order.map { (service: $0, families: scrapes[$0]?.families) }, own: own)
    }

    static func ownFamilies(
        status: DaemonStatus,
        counters: [(spec: ServiceSpec, restarts: [RestartReason: Int], probeFailures: [String: Int])],
        scrapes: [String: Scrape]
    ) -> [MetricFamily] {
        let rows = status.services
        func gauge(_ name: String, _ help: String, _ samples: [Sample]) -> MetricFamily {
            MetricFamily(name: name, help: help, type: .gauge, samples: samples)
        }
        func number(_ value: Double) -> String {
            value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        }
        return [
            gauge(
                "orderd_service_up",
                "1 when the service answered its last metrics scrape.",
                rows.map {
                    Sample(
                        name: "orderd_service_up",
                        labels: [Label("service", $0.name)],
                        value: scrapes[$0.name]?.families == nil ? "0" : "1"
                    )
                }
            ),
            gauge(
                "orderd_service_ready",
                "1 when the service's last readiness probe passed.",
                rows.map {
                    Sample(
                        name: "orderd_service_ready",
                        labels: [Label("service", $0.name)],
                        value: $0.ready ? "1" : "0"
                    )
                }
            ),
            MetricFamily(
                name: "orderd_service_restarts_total",
                help: "Restarts by reason (exit, liveness, startup, manual).",
                type: .counter,
                samples: counters.flatMap { entry in
                    RestartReason.allCases.map { reason in
                        Sample(
                            name: "orderd_service_restarts_total",
                            labels: [Label("service", entry.spec.name), Label("reason", reason.rawValue)],
                            value: String(entry.restarts[reason] ?? 0)
                        )
                    }
                }
            ),
            gauge(
                "orderd_service_state",
                "1 for the service's current state, 0 for the others.",
                rows.flatMap { row in
                    ServiceState.allCases.map { state in
                        Sample(
                            name: "orderd_service_state",
                            labels: [Label("service", row.name), Label("state", state.rawValue)],
                            value: row.state == state ? "1" : "0"
                        )
                    }
                }
            ),
            MetricFamily(
                name: "orderd_probe_failures_total",
                help: "Failed liveness and readiness probes.",
                type: .counter,
                samples: counters.flatMap { entry in
                    ["liveness", "readiness"].map { probe in
                        Sample(
                            name: "orderd_probe_failures_total",
                            labels: [Label("service", entry.spec.name), Label("probe", probe)],
                            value: String(entry.probeFailures[probe] ?? 0)
                        )
                    }
                }
            ),
            gauge(
                "orderd_scrape_duration_seconds",
                "How long the last scrape of the service took.",
                rows.compactMap { row in
                    scrapes[row.name].map {
                        Sample(
                            name: "orderd_scrape_duration_seconds",
                            labels: [Label("service", row.name)],
                            value: number($0.duration.seconds)
                        )
                    }
                }
            ),
        ]
    }

    /// `GET /metrics` (aggregated, rendered per request) and `GET /health` (orderd itself) on
    /// `host:port`, as a Hummingbird application to run in orderd's service group.
    public func application(host: String, port: Int, logger: Logger) -> some ApplicationProtocol {
        let router = Router()
        router.get("metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: await self.render()))
            )
        }
        router.get("health") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "ok orderd\n"))
            )
        }
        return Application(
            router: router,
            server: HTTPServerPolicy.http1(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "orderd"),
            logger: logger
        )
    }
}
