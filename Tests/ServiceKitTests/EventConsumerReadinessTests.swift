import Foundation
import GRDB
import OrderEvents
import Prometheus
@_spi(Testing) import Kafka
@testable import ServiceKit
import ServiceLifecycle
import Synchronization
import Storage
import StorageTesting
import Testing

@Suite("The consume loop is never blocked silently: readiness and store_blocked say why")
struct EventConsumerReadinessTests {
    /// The embedded cluster, the data directory and the configuration of every test here.
    let fixture: (cluster: EmbeddedKafkaCluster, directory: TemporaryDirectory, configuration: ServiceConfiguration)

    init() throws {
        let cluster = try singlePartitionCluster()
        let directory = try TemporaryDirectory()
        let configuration = try consumeLoopConfiguration(
            name: "ready-test",
            groupIdVariable: "READY_GROUP_ID",
            cluster: cluster,
            directory: directory,
            environment: ["KAFKA_SESSION_TIMEOUT_MS": "3000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500"]
        )
        fixture = (cluster, directory, configuration)
    }

    func loop(store: EventStore, readiness: Readiness) throws -> EventConsumerService {
        let producer = try KafkaProducer(configuration: fixture.configuration.kafka, logger: quietLogger)
        return EventConsumerService(
            configuration: fixture.configuration,
            store: store,
            handler: CountingHandler(),
            relay: OutboxRelay(store: store, producer: producer, logger: quietLogger),
            readiness: readiness,
            logger: quietLogger
        )
    }

    /// The `store_blocked` sample of `writer` in `registry`'s exposition.
    func storeBlocked(_ registry: PrometheusCollectorRegistry, writer: String) -> Double? {
        let text = String(decoding: Observability.exposition(registry), as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix(#"store_blocked{writer="\#(writer)"}"#) }
            .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }

    @Test(
        "disk full (SQLITE_FULL, a real file capped by max_page_count): not ready with the reason, store_blocked 1; space back: the batch commits once, ready, 0"
    )
    func diskFull() async throws {
        let store = try await EventStore(directory: fixture.directory.path, name: "full", topics: .defaults)
        let registry = PrometheusCollectorRegistry()
        let readiness = Readiness(checks: [], metrics: PrometheusMetricsFactory(registry: registry))
        let loop = try loop(store: store, readiness: readiness)
        #expect(readiness.failures.isEmpty)
        #expect(storeBlocked(registry, writer: "consumer") == 0)
        #expect(storeBlocked(registry, writer: "relay") == 0)

        // The writer connection may not grow the file past its size now: inserts fail as on a
        // full disk.
        let pages = try await store.database.sqlitePool.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
            return pages
        }
        let batch = try (0..<300).map { index in
            let event = orderCreated("full-\(index)")
            return KafkaMessage(
                topic: "orders.created",
                partition: 0,
                offset: Int64(index),
                key: Array(event.key.utf8),
                value: try EventCodec.encode(event)
            )
        }
        let processing = Task { await loop.process(batch) }
        try await waitUntil(timeout: .seconds(30)) { !readiness.failures.isEmpty }
        #expect(readiness.failures == ["store: database or disk is full (SQLITE_FULL); retrying"])
        #expect(storeBlocked(registry, writer: "consumer") == 1)
        #expect(storeBlocked(registry, writer: "relay") == 0)
        #expect(
            try await store.database.read { transaction in
                try transaction.fetchValue(Int.self, "SELECT COUNT(*) FROM inbox")
            } == 0
        )

        // Space is back: the next retry commits the whole batch, by itself.
        try await store.database.sqlitePool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA max_page_count = \(pages * 1000)")
        }
        #expect(await processing.value)
        #expect(readiness.failures.isEmpty)
        #expect(storeBlocked(registry, writer: "consumer") == 0)
        #expect(
            try await store.database.read { transaction in
                try transaction.fetchValue(Int.self, "SELECT COUNT(*) FROM inbox")
            } == 300
        )
        #expect(try await store.pendingCount() == 300)
    }

    @Test("a read-only database (SQLITE_READONLY) blocks the loop with its reason too; a busy one stays quiet")
    func readOnlyAndBusy() async throws {
        let store = try await EventStore(directory: fixture.directory.path, name: "readonly", topics: .defaults)
        let readiness = Readiness(checks: [])
        let loop = try loop(store: store, readiness: readiness)
        try await store.database.sqlitePool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA query_only = 1")
        }
        let event = orderCreated("ro-1")
        let message = KafkaMessage(
            topic: "orders.created",
            partition: 0,
            offset: 0,
            key: Array(event.key.utf8),
            value: try EventCodec.encode(event)
        )
        let processing = Task { await loop.process(message) }
        try await waitUntil(timeout: .seconds(30)) { !readiness.failures.isEmpty }
        let reason = try #require(readiness.failures.first)
        #expect(reason.hasPrefix("store: ") && reason.contains("(SQLITE_READONLY); retrying"), "\(reason)")
        try await store.database.sqlitePool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA query_only = 0")
        }
        #expect(await processing.value)
        #expect(readiness.failures.isEmpty)

        let busy = DatabaseError(resultCode: .SQLITE_BUSY, message: "database is locked")
        #expect(StoreFailure(busy)?.isTransient == true)
        #expect(StoreFailure(FlakyHandler.DatabaseHiccup()) == nil)
    }

    @Test(
        "the outbox relay's store errors block readiness too (a read-only database: rows published, not marked), and clear when it writes again"
    )
    func relayStoreBlocked() async throws {
        let store = try await EventStore(directory: fixture.directory.path, name: "relay-ro", topics: .defaults)
        try await store.database.write { transaction in
            try store.enqueue([orderCreated("relay-ro-1")], trace: nil, in: transaction)
        }
        let registry = PrometheusCollectorRegistry()
        let readiness = Readiness(checks: [], metrics: PrometheusMetricsFactory(registry: registry))
        let producer = try KafkaProducer(configuration: fixture.configuration.kafka, logger: quietLogger)
        let relay = OutboxRelay(store: store, producer: producer, logger: quietLogger, readiness: readiness)
        try await store.database.sqlitePool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA query_only = 1")
        }
        try await withRunningClients(producer) {
            let running = Task { try await relay.run() }
            defer { running.cancel() }
            try await waitUntil(timeout: .seconds(30)) { !readiness.failures.isEmpty }
            let reason = try #require(readiness.failures.first)
            #expect(reason.hasPrefix("store (outbox relay): ") && reason.contains("SQLITE_READONLY"), "\(reason)")
            #expect(storeBlocked(registry, writer: "relay") == 1)
            #expect(storeBlocked(registry, writer: "consumer") == 0)
            try await store.database.sqlitePool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA query_only = 0")
            }
            try await waitUntil(timeout: .seconds(30)) { readiness.failures.isEmpty }
            #expect(storeBlocked(registry, writer: "relay") == 0)
            try await waitUntil(timeout: .seconds(30)) { try await store.pendingCount() == 0 }
        }
    }

    @Test("each kind of store error is classified by its primary result code; only busy is transient")
    func classification() {
        let kinds: [(ResultCode, StoreFailure.Kind)] = [
            (.SQLITE_BUSY, .busy), (.SQLITE_LOCKED, .busy), (.SQLITE_FULL, .full), (.SQLITE_IOERR_WRITE, .io),
            (.SQLITE_IOERR_FSYNC, .io), (.SQLITE_CANTOPEN, .io), (.SQLITE_READONLY, .readOnly),
            (.SQLITE_READONLY_DBMOVED, .readOnly), (.SQLITE_CORRUPT, .corrupt), (.SQLITE_NOTADB, .corrupt),
            (.SQLITE_CONSTRAINT_UNIQUE, .other),
        ]
        for (code, kind) in kinds {
            let failure = StoreFailure(DatabaseError(resultCode: code, message: "m"))
            #expect(failure?.kind == kind, "\(code)")
            #expect(failure?.isTransient == (kind == .busy), "\(code)")
        }
        let full = StoreFailure(DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full"))
        #expect(full?.description == "database or disk is full (SQLITE_FULL)")
    }

    @Test("the relay's block is reported apart from the consume loop's; each clears only itself")
    func writersApart() {
        let registry = PrometheusCollectorRegistry()
        let readiness = Readiness(checks: [.consumer], metrics: PrometheusMetricsFactory(registry: registry))
        readiness.set(.consumer, ready: true)
        let full = StoreFailure(DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full"))!
        let io = StoreFailure(DatabaseError(resultCode: .SQLITE_IOERR_WRITE, message: "disk I/O error"))!
        readiness.storeBlocked(.consumer, by: full)
        readiness.storeBlocked(.relay, by: io)
        #expect(
            readiness.failures == [
                "store (outbox relay): disk I/O error (SQLITE_IOERR); retrying",
                "store: database or disk is full (SQLITE_FULL); retrying",
            ]
        )
        #expect(storeBlocked(registry, writer: "relay") == 1)
        #expect(readiness.storeRecovered(.consumer))
        #expect(!readiness.storeRecovered(.consumer))
        #expect(readiness.failures == ["store (outbox relay): disk I/O error (SQLITE_IOERR); retrying"])
        #expect(storeBlocked(registry, writer: "consumer") == 0)
        #expect(storeBlocked(registry, writer: "relay") == 1)
        #expect(readiness.storeRecovered(.relay))
        #expect(readiness.failures.isEmpty)
    }

    @Test(
        "the consumer check fails when the member loses its group (coordinator gone)"
    )
    func membershipLost() async throws {
        let store = try await EventStore(directory: fixture.directory.path, name: "member", topics: .defaults)
        let readiness = Readiness(checks: [.topics, .consumer])
        let loop = try loop(store: store, readiness: readiness)
        let group = ServiceGroup(services: [loop], logger: quietLogger)
        let running = Task { try await group.run() }
        defer { running.cancel() }
        try await waitUntil(timeout: .seconds(60)) { readiness.failures.isEmpty }

        // The only broker, and so the group coordinator, goes away for longer than the session.
        try fixture.cluster.setBroker(1, up: false)
        try await waitUntil(timeout: .seconds(60)) { !readiness.failures.isEmpty }
        let reason = try #require(readiness.failures.first)
        #expect(reason.hasPrefix("consumer: lost its group membership"), "\(reason)")

        // Not brought back up: the mock re-listens on the same port then, and aborts the whole
        // test process when another socket took that port meanwhile (seen once in CI).
        await group.triggerGracefulShutdown()
        try await running.value
    }
}
