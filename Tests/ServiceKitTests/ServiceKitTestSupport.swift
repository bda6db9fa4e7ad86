import Foundation
import Kafka
import Logging
import OrderEvents
@testable import ServiceKit
import Storage
import StorageTesting
import Synchronization
import Testing

/// A temporary directory removed when the value is released.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("servicekit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

let quietLogger: Logger = {
    var logger = Logger(label: "servicekit-tests")
    logger.logLevel = .critical
    return logger
}()

/// Counts how often it really applied an event, and answers each OrderCreated with a
/// PaymentCompleted so there is something to publish.
final class CountingHandler: EventHandler {
    let applied = Mutex<[String: Int]>([:])

    func handle(_ event: EventEnvelope, in transaction: any SQLTransaction) throws -> Reaction {
        applied.withLock { $0[event.orderId, default: 0] += 1 }
        guard case .orderCreated(let order) = event.payload else { throw EventRejected("unexpected \(event.type)") }
        let completed = PaymentCompleted(
            paymentId: "p-\(event.orderId)",
            amount: order.amount,
            currency: order.currency,
            customerEmail: nil,
            items: []
        )
        return Reaction(events: [event.caused(.paymentCompleted(completed))], summary: "test")
    }

    var totalApplied: Int { applied.withLock { $0.values.reduce(0, +) } }
}

func orderCreated(_ orderId: String, amount: String = "42") -> EventEnvelope {
    EventEnvelope(
        orderId: orderId,
        correlationId: "c-\(orderId)",
        payload: .orderCreated(
            OrderCreated(amount: Amount(exactly: amount)!, currency: "USD", customerEmail: nil, items: [])
        )
    )
}

struct TimedOut: Error {}

/// Polls `condition` until it holds, failing after `timeout`.
func waitUntil(timeout: Duration = .seconds(30), _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut() }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// Reads `topic` from the beginning with a fresh group until `done` holds.
func readTopic(
    _ topic: String,
    from cluster: EmbeddedKafkaCluster,
    timeout: Duration = .seconds(30),
    until done: @escaping @Sendable ([KafkaMessage]) -> Bool
) async throws -> [KafkaMessage] {
    let consumer = try KafkaConsumer(
        configuration: KafkaClientConfiguration(
            bootstrapServers: cluster.bootstrapServers,
            clientId: "reader",
            statisticsInterval: nil
        ),
        groupId: "reader-\(UUID().uuidString)",
        topics: [topic],
        logger: quietLogger
    )
    let seen = Mutex<[KafkaMessage]>([])
    let reader = Task {
        for await message in consumer.messages {
            let finished = seen.withLock { seen in
                seen.append(message)
                return done(seen)
            }
            if finished { return }
        }
    }
    defer { reader.cancel() }
    try await withRunningClients(consumer) {
        try await waitUntil(timeout: timeout) { done(seen.withLock { $0 }) }
    }
    return seen.withLock { $0 }
}

/// The consumer loop of `handler` over `store`, publishing through `relay`, with its own
/// readiness and the quiet logger.
func consumerService(
    _ configuration: ServiceConfiguration,
    store: EventStore,
    handler: any EventHandler,
    relay: OutboxRelay
) -> EventConsumerService {
    EventConsumerService(
        configuration: configuration,
        store: store,
        handler: handler,
        relay: relay,
        readiness: Readiness(),
        logger: quietLogger
    )
}

/// An embedded cluster with every default topic and its dead-letter topic, one partition each.
func singlePartitionCluster() throws -> EmbeddedKafkaCluster {
    try EmbeddedKafkaCluster(
        topics: Topics.defaults.allWithDeadLetters.map { TopicSpecification(name: $0, partitions: 1) }
    )
}

/// The configuration of a test service `name` consuming `orders.created` from `cluster`, with its
/// data in `directory` and any further `environment` variables.
func consumeLoopConfiguration(
    name: String,
    groupIdVariable: String,
    cluster: EmbeddedKafkaCluster,
    directory: TemporaryDirectory,
    environment: [String: String] = [:]
) throws -> ServiceConfiguration {
    let identity = ServiceIdentity(name: name, metricsPort: 0, groupIdVariable: groupIdVariable) {
        [$0.ordersCreated]
    }
    return try ServiceConfiguration(
        identity: identity,
        environment: environment.merging(
            ["KAFKA_BROKERS": cluster.bootstrapServers, "DATA_DIR": directory.path],
            uniquingKeysWith: { _, fixed in fixed }
        )
    )
}

/// A new store of `backend` for one test: `<directory>/<name>.sqlite`, or a schema of its own
/// on the test process's PostgreSQL server (a unique name when `name` is nil).
func openStore(
    _ backend: TestBackend,
    in directory: TemporaryDirectory,
    name: String? = nil,
    migrations: [Migration] = []
) async throws -> EventStore {
    let name = name ?? TestPostgresServer.uniqueName()
    switch backend {
    case .sqlite:
        return try await EventStore(directory: directory.path, name: name, topics: .defaults, migrations: migrations)
    case .postgres:
        return try await EventStore(
            url: try DatabaseURL(try await TestPostgresServer.shared().url),
            name: name,
            topics: .defaults,
            migrations: migrations,
            logger: quietLogger
        )
    }
}

/// The unsent rows once at least `count` of them are readable. On PostgreSQL a committed row
/// becomes readable once every older write transaction on the server has ended (see
/// ``OutboxPosition``), and the tests beside this one write to the same server.
func unsentRows(_ store: EventStore, atLeast count: Int, limit: Int = 100) async throws -> [OutboxRecord] {
    try await waitUntil { try await store.unsent(limit: limit).count >= count }
    return try await store.unsent(limit: limit)
}
