import Foundation
import Kafka
import OrderEvents
import Storage
import StorageTesting
import Supervisor
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Two orderd "hosts" on this machine — separate configurations, sockets, ports and host names —
/// against one external broker (`embedded-kafka`) and one real PostgreSQL database: every
/// service runs twice, and one whole host is killed mid-run.
@Suite("End to end: two hosts on one Kafka and one PostgreSQL, one killed mid-run")
struct TwoHostFailoverTests {
    /// Stock for 60 units of SKU-1 (each order takes one), so some of the orders are rejected and
    /// refunded; amounts above 100 are declined.
    static let environment = ["INVENTORY_STOCK": "SKU-1=60,SKU-2=100000", "PAYMENT_LIMIT": "100"]

    @Test(
        "kill -9 of a whole host under load: every accepted order terminal, charged once, refunded at most once, notified once; stock never oversold",
        .timeLimit(.minutes(8)),
        .exclusiveLoad
    )
    func killOneHost() async throws {
        let database = try await TestPostgresServer.createDatabase()
        let broker = try await ExternalBroker.start(partitions: 6)
        let hosts = try ["host-a", "host-b"].map { name in
            try OrderdHarness(
                environment: Self.environment.merging(["HOSTNAME": name]) { $1 },
                brokers: broker.bootstrap,
                database: database
            )
        }
        for host in hosts { try await host.start() }
        for host in hosts { try await host.waitUntilAllReady(timeout: .seconds(120)) }

        // Orders alternate between the hosts' APIs; host A dies a third of the way in.
        let orders = (0..<240).map { index in
            TestOrder(
                id: "fo-\(index)",
                sku: index.isMultiple(of: 3) ? "SKU-1" : "SKU-2",
                amount: index.isMultiple(of: 7) ? 150 : 20 + index % 50
            )
        }
        let accepted = Locked<[TestOrder]>([])
        let killedAt = Locked<ContinuousClock.Instant?>(nil)
        for (index, order) in orders.enumerated() {
            if index == orders.count / 3 {
                let status = try #require(try await hosts[0].status())
                // The host dies at once: orderd and every child, as with a power cut.
                for pid in status.services.compactMap(\.pid) + [status.pid] { kill(pid, SIGKILL) }
                killedAt.withLock { $0 = .now }
            }
            let host = hosts[killedAt.withLock({ $0 }) == nil ? index % 2 : 1]
            let reply = try? await host.request(.POST, port: host.apiPort, path: "/order", body: order.body)
            if reply?.status == 202 || reply?.status == 200 { accepted.withLock { $0.append(order) } }
            try await Task.sleep(for: .milliseconds(20))
        }
        let done = accepted.withLock { $0 }
        #expect(done.count > orders.count / 2, "most orders accepted (those sent to the dead host fail)")

        // Every accepted order reaches a terminal state, answered by the surviving host.
        let survivor = hosts[1]
        let finished = Locked<[String: OrderSnapshot]>([:])
        try await waitUntil(timeout: .seconds(180), "every accepted order terminal on the surviving host") {
            for order in done where finished.withLock({ $0[order.id] == nil }) {
                let reply = try await survivor.request(.GET, port: survivor.apiPort, path: "/orders/\(order.id)")
                guard reply.status == 200 else { return false }
                let snapshot = try JSONDecoder().decode(OrderSnapshot.self, from: Data(reply.body.utf8))
                guard snapshot.isTerminal else { return false }
                finished.withLock { $0[order.id] = snapshot }
            }
            return true
        }
        let terminal = finished.withLock { $0 }
        if let killed = killedAt.withLock({ $0 }) {
            print("two-host failover: every accepted order terminal \(ContinuousClock.now - killed) after the kill")
        }

        // Once each, counted where the events are written: the services' outboxes on the shared
        // database (one row per event; the relay may publish a row twice, with one event id, which
        // consumers drop). Every row published before counting.
        try await waitUntil(timeout: .seconds(60), "every service's outbox published") {
            var unsent = 0
            for schema in ["order_service", "payment_service", "inventory_service", "notification_service"] {
                unsent += try await Self.count(database, schema, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
            }
            return unsent == 0
        }
        let topics = Topics.defaults
        let notified = try await Self.eventsByOrder(database, "notification_service", topics.notificationsSent)
        let charged = try await Self.eventsByOrder(database, "payment_service", topics.paymentsCompleted)
        let refunded = try await Self.eventsByOrder(database, "payment_service", topics.paymentsRefunded)
        for order in done {
            #expect(notified[order.id] == 1, "order \(order.id) notified once")
            #expect((charged[order.id] ?? 0) <= 1, "order \(order.id) charged at most once")
            #expect((refunded[order.id] ?? 0) <= 1, "order \(order.id) refunded at most once")
        }
        let paid = done.filter { terminal[$0.id]?.statuses.contains("PAID") == true }
        #expect(paid.allSatisfy { charged[$0.id] == 1 }, "every paid order charged once")
        #expect(done.filter { terminal[$0.id]?.refunded == true }.allSatisfy { refunded[$0.id] == 1 })

        // No stock oversold: what was reserved plus what is left is what there was.
        let inventory = try PostgreSQLDatabase(url: database, schema: "inventory_service", logger: .init(label: "e2e"))
        let (left, reserved) = try await inventory.read { transaction in
            (
                try transaction.fetchValue(Int.self, "SELECT available FROM stock WHERE sku = 'SKU-1'") ?? -1,
                try transaction.fetchValue(Int.self, "SELECT COUNT(*) FROM reservations WHERE items LIKE '%SKU-1%'")
                    ?? -1
            )
        }
        await inventory.close()
        #expect(left >= 0 && left + reserved == 60, "SKU-1: \(reserved) reserved + \(left) left")
        let completedWithSKU1 = done.filter { $0.sku == "SKU-1" && terminal[$0.id]?.status == "COMPLETED" }
        #expect(completedWithSKU1.count == reserved)
    }
}

extension TwoHostFailoverTests {
    /// The first column of `sql`'s first row in `schema`.
    static func count(_ database: DatabaseURL, _ schema: String, _ sql: String) async throws -> Int {
        let store = try PostgreSQLDatabase(url: database, schema: schema, logger: .init(label: "e2e"))
        defer { Task { await store.close() } }
        return try await store.read { try $0.fetchValue(Int.self, sql) } ?? 0
    }

    /// How many outbox rows (events) of `topic` the service wrote for each order.
    static func eventsByOrder(_ database: DatabaseURL, _ schema: String, _ topic: String) async throws -> [String: Int]
    {
        let store = try PostgreSQLDatabase(url: database, schema: schema, logger: .init(label: "e2e"))
        let rows = try await store.read { transaction in
            try transaction.fetchAll(
                "SELECT convert_from(message_key, 'UTF8') AS order_id, COUNT(*) AS events FROM outbox WHERE topic = ? GROUP BY 1",
                [topic]
            ).map { (try $0["order_id"] as String, try $0["events"] as Int) }
        }
        await store.close()
        return Dictionary(uniqueKeysWithValues: rows)
    }
}

@Suite("End to end: several instances of a service under one orderd, on PostgreSQL")
struct InstancesTests {
    @Test(
        "two payment-service instances: a status row each, an order completes, `orderd restart payment-service` restarts both",
        .exclusiveLoad
    )
    func twoInstances() async throws {
        let database = try await TestPostgresServer.createDatabase()
        let host = try OrderdHarness(database: database, instances: ["payment-service": 2])
        try await host.start()
        let ready = try await host.waitUntilAllReady()
        #expect(
            ready.services.map(\.name).filter { $0.hasPrefix("payment-service") } == [
                "payment-service.1", "payment-service.2",
            ]
        )
        let order = TestOrder(id: "inst-1", sku: "SKU-1", amount: 10)
        let reply = try await host.request(.POST, port: host.apiPort, path: "/order", body: order.body)
        #expect(reply.status == 202)
        try await host.waitForOrder("inst-1", status: "COMPLETED")

        let (code, output) = try await host.cli(["restart", "payment-service"])
        #expect(code == 0, "\(output)")
        #expect(output.contains("payment-service.1:") && output.contains("payment-service.2:"), "\(output)")
        let restarted = try await host.waitUntilAllReady()
        #expect(restarted.services.filter { $0.name.hasPrefix("payment-service.") }.allSatisfy { $0.restarts >= 1 })
        let second = try await host.request(
            .POST,
            port: host.apiPort,
            path: "/order",
            body: TestOrder(id: "inst-2", sku: "SKU-1", amount: 10).body
        )
        #expect(second.status == 202)
        try await host.waitForOrder("inst-2", status: "COMPLETED")
    }
}

/// One order of the test: its id, its only SKU (one unit) and its amount.
struct TestOrder: Sendable {
    var id: String
    var sku: String
    var amount: Int

    var body: String {
        """
        {"orderId":"\(id)","amount":\(amount),"currency":"USD","customer":{"email":"\(id)@example.com"},\
        "items":[{"sku":"\(sku)","quantity":1}]}
        """
    }
}

/// The `embedded-kafka` binary as a broker of its own, shared by the hosts; killed when released.
final class ExternalBroker: Sendable {
    let process: TestProcess
    let bootstrap: String

    private init(process: TestProcess, bootstrap: String) {
        self.process = process
        self.bootstrap = bootstrap
    }

    deinit {
        process.signal(SIGKILL)
    }

    static func start(partitions: Int) async throws -> ExternalBroker {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("broker-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = "\(directory)/bootstrap"
        let process = try await TestProcess.launch(
            "\(Platform.binaries)/embedded-kafka",
            ["--partitions", String(partitions), "--bootstrap-file", file],
            environment: ProcessInfo.processInfo.environment,
            log: "\(directory)/broker.log"
        )
        let bootstrap = Locked<String?>(nil)
        try await waitUntil(timeout: .seconds(30), "embedded-kafka to write its bootstrap file") {
            let text = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(
                in: .whitespacesAndNewlines
            )
            guard let text, !text.isEmpty else { return false }
            bootstrap.withLock { $0 = text }
            return true
        }
        return ExternalBroker(process: process, bootstrap: bootstrap.withLock { $0! })
    }
}
