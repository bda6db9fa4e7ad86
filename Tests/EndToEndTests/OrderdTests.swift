import Foundation
@_spi(Testing) import Kafka
import OrderEvents
import Supervisor
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("End to end: orderd supervising the real services", .serialized)
struct OrderdTests {
    @Test(
        "orderd runs the platform: the original order completes, status tells the truth, a killed child comes back, one /metrics, no orphans"
    )
    func supervisesThePlatform() async throws {
        let orderd = try OrderdHarness()
        try await orderd.start()
        let status = try await orderd.waitUntilAllReady()
        #expect(status.services.map(\.name).sorted() == Platform.services.sorted())
        #expect(
            status.services.allSatisfy { $0.state == .ready && $0.restarts == 0 },
            "\(status.services)\norderd's log:\n\(orderd.log.suffix(6000))"
        )
        #expect(status.embeddedBroker)
        #expect(try await orderd.cli(["status"]).status == 0)
        // No child holds one of orderd's sockets (its control socket, its listeners): a child of
        // a SIGKILLed orderd would keep them open, and the next orderd would refuse to start.
        let orderdSockets = openSockets(of: orderd.pid)
        #expect(!orderdSockets.isEmpty)
        for child in status.services.compactMap(\.pid) {
            #expect(openSockets(of: child).isDisjoint(with: orderdSockets), "pid \(child) inherited orderd's sockets")
        }

        let accepted = try await orderd.request(
            .POST,
            port: orderd.apiPort,
            path: "/order",
            body: #"{"orderId":"o1","amount":42}"#
        )
        #expect(accepted.status == 202)
        try await orderd.waitForOrder("o1", status: "COMPLETED")

        // SIGKILL a child: orderd restarts it, counts the restart, and the flow still works.
        let victim = try #require(status.row("payment-service")?.pid)
        kill(victim, SIGKILL)
        try await waitUntil(timeout: .seconds(60), "payment-service to be ready again") {
            guard let row = try await orderd.status()?.row("payment-service") else { return false }
            return row.ready && row.restarts == 1 && row.pid != victim
        }
        let restarted = try #require(try await orderd.status()?.row("payment-service"))
        #expect(restarted.lastExit == "signal 9 (KILL)")
        #expect(
            try await orderd.request(.POST, port: orderd.apiPort, path: "/order", body: #"{"orderId":"o2","amount":7}"#)
                .status == 202
        )
        try await orderd.waitForOrder("o2", status: "COMPLETED", timeout: .seconds(60))

        // One aggregated endpoint with every child's series and orderd's own.
        let metrics = try await orderd.request(.GET, port: orderd.metricsPort, path: "/metrics").body
        for service in Platform.services {
            #expect(
                metrics.contains(#"orderd_service_up{service="\#(service)"} 1"#),
                "\(service) missing from /metrics"
            )
            #expect(metrics.contains(#"service="\#(service)""#))
        }
        #expect(metrics.contains(#"orderd_service_restarts_total{service="payment-service",reason="exit"} 1"#))
        #expect(
            metrics.components(separatedBy: "# TYPE events_processed_total counter").count == 2,
            "one TYPE line per family"
        )
        #expect(
            metrics.contains(
                #"events_processed_total{service="payment-service",topic="orders.created",outcome="processed"}"#
            )
        )
        #expect(try await orderd.request(.GET, port: orderd.metricsPort, path: "/health").status == 200)

        // Children's output is forwarded line by line with the service name.
        #expect(orderd.log.contains("payment-service | "))
        #expect(orderd.log.contains("order-service | "))

        // SIGKILL orderd itself: no child outlives it by more than 2 s.
        let children = try #require(try await orderd.status()).services.compactMap(\.pid)
        #expect(children.count == 4)
        kill(orderd.pid, SIGKILL)
        _ = try await orderd.waitForExit(timeout: .seconds(5))
        try await waitUntil(timeout: .seconds(2), "every child to exit after orderd was SIGKILLed") {
            children.allSatisfy { !isAlive($0) }
        }
    }

    @Test(
        "sd_notify: READY=1 only once all four are ready, STATUS lines, watchdog pings that stop when the loop stalls, STOPPING=1 and exit 0 on SIGTERM"
    )
    func systemdNotify() async throws {
        let notify = try NotifySocket(prefix: "notify")
        let orderd = try OrderdHarness(environment: [
            "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000", "ORDERD_TEST_STALL_SIGNAL": "1",
        ])
        try await orderd.start()

        try await waitUntil(timeout: .seconds(90), "READY=1; log:\n\(orderd.log.suffix(2000))") {
            notify.all().contains { $0.text.contains("READY=1") }
        }
        // When READY=1 arrived every service was ready (its STATUS says 4/4, below): nothing has
        // restarted since. Readiness itself is not asked again: one slow probe may flip it.
        let status = try #require(try await orderd.status())
        #expect(status.services.allSatisfy { $0.restarts == 0 }, "\(status.services)")
        let ready = try #require(notify.all().first { $0.text.contains("READY=1") })
        #expect(ready.text.contains("STATUS=4/4 ready"))
        let before = notify.all().filter { $0.at < ready.at }
        #expect(before.contains { $0.text.hasPrefix("STATUS=") }, "STATUS lines are sent while starting")
        #expect(!before.contains { $0.text.contains("STATUS=4/4 ready") })

        // The watchdog is pinged every half interval while the loop makes progress…
        try await waitUntil(timeout: .seconds(5), "watchdog pings") {
            notify.all().filter { $0.text == "WATCHDOG=1" }.count >= 3
        }
        // …and not once the supervision loop is wedged.
        kill(orderd.pid, SIGUSR2)
        try await waitUntil(timeout: .seconds(5), "orderd to notice the stall") {
            orderd.log.contains("not pinging the watchdog")
        }
        let stalledAt = ContinuousClock.now
        try await waitUntil(timeout: .seconds(10), "1.5 s of stall observed") {
            ContinuousClock.now - stalledAt > .milliseconds(1500)
        }
        #expect(!notify.all().contains { $0.at > stalledAt && $0.text == "WATCHDOG=1" })

        // SIGTERM: STOPPING=1, ordered stop, exit 0, no child left.
        let children = status.services.compactMap(\.pid)
        kill(orderd.pid, SIGTERM)
        let exit = try await orderd.waitForExit(timeout: .seconds(30))
        #expect(exit == 0)
        #expect(notify.all().contains { $0.text.contains("STOPPING=1") })
        #expect(children.allSatisfy { !isAlive($0) })
        let log = orderd.log
        let stops = ["order-service", "payment-service", "notification-service", "inventory-service"].compactMap {
            log.range(of: "\($0): stopping → stopped")?.lowerBound
        }
        #expect(stops.count == 4)
        #expect(stops == stops.sorted(), "services stop in reverse start order")
    }

    @Test(
        "a second orderd on the same socket refuses to start; status on a dead socket exits 4; SIGHUP restarts only what changed"
    )
    func singleInstanceReloadAndUnreachable() async throws {
        let notify = try NotifySocket(prefix: "reload")
        let orderd = try OrderdHarness(environment: ["NOTIFY_SOCKET": notify.path])
        #expect(try await orderd.cli(["status"]).status == 4)
        try await orderd.start()
        try await waitUntil(timeout: .seconds(30), "the control socket") {
            FileManager.default.fileExists(atPath: orderd.socketPath)
        }
        let second = try await TestProcess.run("\(Platform.binaries)/orderd", ["run", "--config", orderd.configPath])
        #expect(second.status == 1)
        #expect(second.output.contains("already running"))

        // SIGHUP with one service's configuration changed: only that one restarts.
        try await orderd.waitUntilAllReady()
        let before = try #require(try await orderd.status())
        let changed = orderd.configuration.replacingOccurrences(
            of: "[services.notification-service.environment]\n",
            with: "[services.notification-service.environment]\nLOG_LEVEL = \"debug\"\n"
        )
        #expect(changed != orderd.configuration)
        try changed.write(toFile: orderd.configPath, atomically: true, encoding: .utf8)
        kill(orderd.pid, SIGHUP)
        try await waitUntil(timeout: .seconds(60), "the reload to finish with READY=1") {
            let texts = notify.all().map(\.text)
            guard let reloading = texts.firstIndex(where: { $0.contains("RELOADING=1") }) else { return false }
            return texts[reloading...].contains { $0.contains("READY=1") }
        }
        let after = try #require(try await orderd.status())
        #expect(after.row("notification-service")?.pid != before.row("notification-service")?.pid)
        #expect(after.row("notification-service")?.ready == true)
        for service in ["order-service", "payment-service", "inventory-service"] {
            #expect(
                after.row(service)?.pid == before.row(service)?.pid,
                "\(service) was restarted by an unrelated change"
            )
        }
        kill(orderd.pid, SIGTERM)
        #expect(try await orderd.waitForExit(timeout: .seconds(30)) == 0)
    }

    @Test(
        "Kafka unreachable at start: the order API takes orders at once, READY=1 once no service is still starting (STATUS names what is not ready), no restart, SIGTERM exits 0"
    )
    func brokerDownAtStart() async throws {
        let notify = try NotifySocket(prefix: "nobroker")
        // Port 1 on loopback refuses every connection: a broker that is down.
        let orderd = try OrderdHarness(
            environment: ["NOTIFY_SOCKET": notify.path],
            brokers: "127.0.0.1:1",
            startupBudget: "3s"
        )
        try await orderd.start()

        try await waitUntil(timeout: .seconds(60), "READY=1 with the broker down; log:\n\(orderd.log.suffix(3000))") {
            notify.all().contains { $0.text.contains("READY=1") }
        }
        let ready = try #require(notify.all().first { $0.text.contains("READY=1") })
        #expect(ready.text.contains("STATUS=0/4 ready"), "\(ready.text)")
        #expect(ready.text.contains("not ready: "), "\(ready.text)")
        // The log line is written next to READY=1 but reaches the log file through a pipe of its
        // own: it may land a moment after the notification.
        try await waitUntil(timeout: .seconds(10), "the start-up line naming what is not ready") {
            orderd.log.contains("started, but not every service is ready")
        }

        let accepted = try await orderd.request(
            .POST,
            port: orderd.apiPort,
            path: "/order",
            body: #"{"orderId":"while-kafka-is-down","amount":5}"#
        )
        #expect(accepted.status == 202, "\(accepted.body)")
        let order = try await orderd.request(.GET, port: orderd.apiPort, path: "/orders/while-kafka-is-down")
        #expect(order.status == 200 && order.body.contains("\"status\":\"PENDING\""), "\(order.body)")

        let status = try #require(try await orderd.status())
        #expect(status.services.allSatisfy { $0.state == .unhealthy && $0.restarts == 0 }, "\(status.services)")
        let children = status.services.compactMap(\.pid)
        kill(orderd.pid, SIGTERM)
        #expect(try await orderd.waitForExit(timeout: .seconds(30)) == 0)
        #expect(children.allSatisfy { !isAlive($0) })
        #expect(!orderd.log.contains("did not stop in time"), "\(orderd.log.suffix(3000))")
    }

    @Test(
        "the broker lost while running, then SIGTERM: every service stops by itself within its budget (exit 0), and so does orderd"
    )
    func brokerLostThenStop() async throws {
        let cluster = try EmbeddedKafkaCluster(
            topics: Topics.defaults.allWithDeadLetters.map { TopicSpecification(name: $0, partitions: 3) }
        )
        let orderd = try OrderdHarness(brokers: cluster.bootstrapServers)
        try await orderd.start()
        try await orderd.waitUntilAllReady()
        // Accepted orders whose events cannot all be published before the broker goes: the
        // relays have work in flight when the shutdown begins.
        for index in 0..<5 {
            _ = try await orderd.request(
                .POST,
                port: orderd.apiPort,
                path: "/order",
                body: #"{"orderId":"lost-\#(index)","amount":5}"#
            )
        }
        try cluster.setBroker(1, up: false)
        try await waitUntil(timeout: .seconds(60), "every service to notice the broker is gone") {
            guard let status = try await orderd.status() else { return false }
            return status.services.allSatisfy { !$0.ready }
        }
        kill(orderd.pid, SIGTERM)
        #expect(try await orderd.waitForExit(timeout: .seconds(60)) == 0)
        let log = orderd.log
        for service in Platform.services {
            #expect(log.contains("\(service) exited: exit 0"), "\(service); log:\n\(log.suffix(4000))")
        }
        #expect(!log.contains("did not stop in time"))
        #expect(!log.contains("graceful shutdown did not finish"))
        #expect(!log.contains("Fatal error"))
    }
}
