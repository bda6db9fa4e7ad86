import Foundation
import GRDB
@_spi(Testing) import Kafka
import Logging
import OrderEvents
@testable import ServiceKit
import Synchronization
import Storage
import StorageTesting
import Testing

@Suite("Outbox relay: which failures set a row aside, against the embedded broker")
struct OutboxRelayFailureTests {
    @Test(
        "TOPIC_AUTHORIZATION_FAILED (a missing ACL) is retried, never set aside; the rows go out once the cluster accepts them"
    )
    func authorizationFailureIsRetried() async throws {
        let (cluster, directory, store) = try await fixture(partitions: 1)
        defer { withExtendedLifetime(directory) {} }
        let events = ["acl-1", "acl-2", "acl-1"].map { orderCreated($0) }
        try await store.database.write { transaction in
            for event in events { try store.enqueue([event], trace: nil, in: transaction) }
        }
        // The next four produce requests are refused, as by a broker before the ACL is granted.
        cluster.pushRequestErrors(apiKey: EmbeddedKafkaCluster.produceAPIKey, codes: Array(repeating: 29, count: 4))
        let logs = CapturedLogs()
        try await runRelay(store, kafka(cluster, "relay-acl"), logger: logs.logger) {
            // The relay saw the refusal and keeps the rows: held and retried with backoff.
            try await waitUntil { logs.contains("Topic authorization failed") }
            #expect(try await store.failedCount() == 0)
            #expect(try await store.pendingCount() == 3)
            try await waitUntil { try await store.pendingCount() == 0 }
        }
        #expect(try await store.failedCount() == 0)
        let messages = try await readTopic("orders.created", from: cluster) { $0.count >= 3 }
        try expectPerKeyOrder(messages, written: events)
    }

    @Test(
        "a row too large for Kafka is set aside and holds back the later rows of its key while other keys flow; requeued after the fix, all go out in order"
    )
    func oversizedRowHoldsItsKey() async throws {
        let (cluster, directory, store) = try await fixture(partitions: 2)
        defer { withExtendedLifetime(directory) {} }
        let large = orderCreated("big", amount: "7")
        let written = [orderCreated("big", amount: "1"), large, orderCreated("big", amount: "3")]
        let others = [orderCreated("other", amount: "1"), orderCreated("other", amount: "2")]
        try await store.database.write { transaction in
            try store.enqueue([written[0]], trace: nil, in: transaction)
            try store.enqueue([large], trace: nil, in: transaction)
            // Padding that makes this row alone larger than the first producer's message.max.bytes.
            try transaction.execute(
                "UPDATE outbox SET headers = ? WHERE id = 2",
                [try StoredHeader.encode([KafkaHeader(name: "pad", value: Array(repeating: 0x61, count: 8_000))])]
            )
            try store.enqueue([others[0], written[2], others[1]], trace: nil, in: transaction)
        }
        let small = KafkaProperty(name: "message.max.bytes", value: "4096", source: "test")
        try await runRelay(store, kafka(cluster, "relay-big", [small])) {
            try await waitUntil { try await store.failedCount() == 1 }
            try await waitUntil { try await unsentCount(store, key: "other") == 0 }
        }
        #expect(try await unsentCount(store, key: "big") == 1)
        let setAside = try await store.setAsideRows()
        #expect(setAside.map(\.id) == [2])
        #expect(setAside.first?.heldBack == 1)
        #expect(setAside.first?.error.contains("(10)") == true)

        // A restarted relay (same limit) still holds the key back: the set-aside row is in the store.
        try await runRelay(store, kafka(cluster, "relay-big-2", [small])) {
            try await waitUntil { try await store.pendingCount() == 1 }
        }
        #expect(try await unsentCount(store, key: "big") == 1)

        // The fix (a larger message.max.bytes), then the operator's requeue: the row and the one it
        // held back go out, in order.
        #expect(try await store.requeueSetAside(nil).map(\.id) == [2])
        try await runRelay(store, kafka(cluster, "relay-big-3")) {
            try await waitUntil { try await store.pendingCount() == 0 }
        }
        #expect(try await store.failedCount() == 0)
        let messages = try await readTopic("orders.created", from: cluster) { $0.count >= 5 }
        #expect(messages.count == 5)
        try expectPerKeyOrder(messages, written: written + others)
    }

    /// A cluster with orders.created, and a store in a temporary directory (alive as long as it is).
    private func fixture(partitions: Int) async throws -> (EmbeddedKafkaCluster, TemporaryDirectory, EventStore) {
        let cluster = try EmbeddedKafkaCluster(topics: [
            TopicSpecification(name: "orders.created", partitions: partitions)
        ])
        let directory = try TemporaryDirectory()
        return (cluster, directory, try await EventStore(directory: directory.path, name: "svc", topics: .defaults))
    }

    private func kafka(
        _ cluster: EmbeddedKafkaCluster,
        _ client: String,
        _ properties: [KafkaProperty] = []
    ) -> KafkaClientConfiguration {
        KafkaClientConfiguration(
            bootstrapServers: cluster.bootstrapServers,
            clientId: client,
            statisticsInterval: nil,
            properties: properties
        )
    }

    /// Runs a relay of `store` (short retry backoff) on a new producer until `until` returns,
    /// then stops it.
    private func runRelay(
        _ store: EventStore,
        _ configuration: KafkaClientConfiguration,
        logger: Logger = quietLogger,
        until: () async throws -> Void
    ) async throws {
        let producer = try KafkaProducer(configuration: configuration, logger: quietLogger)
        let relay = OutboxRelay(
            store: store,
            producer: producer,
            logger: logger,
            retryBackoff: Backoff(initial: .milliseconds(20), maximum: .milliseconds(200))
        )
        try await withRunningClients(producer) {
            let running = Task { try await relay.run() }
            try await until()
            running.cancel()
            try await running.value
        }
    }
}

/// Keeps every message logged through ``logger``.
final class CapturedLogs: Sendable {
    private let lines = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "captured") { _ in Handler(logs: self) }
    }

    func contains(_ text: String) -> Bool {
        lines.withLock { $0.contains { $0.contains(text) } }
    }

    fileprivate func append(_ line: String) {
        lines.withLock { $0.append(line) }
    }

    private struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            logs.append("\(event.level) \(event.message)")
        }
    }
}
