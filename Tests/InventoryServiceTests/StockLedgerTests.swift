import Configuration
import Foundation
import GRDB
import Logging
import OrderEvents
import ServiceKit
import Storage
import StorageTesting
import Testing
@testable import InventoryService

@Suite("StockLedger.parse")
struct StockLedgerParseTests {
    @Test("parses sku=quantity pairs")
    func valid() {
        #expect(StockLedger.parse("A=5,B=1,SKU-3.x_y=0") == .success(["A": 5, "B": 1, "SKU-3.x_y": 0]))
    }

    @Test("tolerates spaces and empty entries")
    func spaces() {
        #expect(StockLedger.parse(" A = 5 , B=1 ,, ") == .success(["A": 5, "B": 1]))
        #expect(StockLedger.parse("") == .success([:]))
    }

    @Test("the default stock parses")
    func defaultStock() throws {
        let stock = try StockLedger.parse(StockLedger.defaultStock).get()
        #expect(stock == ["SKU-1": 1000, "SKU-2": 1000, "SKU-3": 1000, "WIDGET": 100, "GADGET": 10])
    }

    @Test(
        "a bad entry is reported",
        arguments: [
            ("a", "a"),
            ("a=-1", "a=-1"),
            ("a=x", "a=x"),
            ("a=", "a="),
            ("=3", "=3"),
            ("a=1=2", "a=1=2"),
            ("a b=1", "a b=1"),
            ("B=2, a=1.5", "a=1.5"),
            ("a=1,a=2", "a=2"),
        ]
    )
    func bad(text: String, entry: String) {
        #expect(StockLedger.parse(text) == .failure(StockLedger.StockParseError(entry: entry)))
    }
}

@Suite("StockLedger.plan")
struct StockLedgerPlanTests {
    @Test("reserves when every SKU has enough stock")
    func reserves() {
        let plan = StockLedger.plan(
            [LineItem(sku: "A", quantity: 5), LineItem(sku: "B", quantity: 1)],
            available: ["A": 5, "B": 3]
        )
        #expect(plan == .reserve(["A": 5, "B": 1]))
    }

    @Test("is all or nothing: one short SKU rejects the whole order")
    func allOrNothing() {
        let plan = StockLedger.plan(
            [LineItem(sku: "A", quantity: 1), LineItem(sku: "B", quantity: 2)],
            available: ["A": 5, "B": 1]
        )
        #expect(plan == .reject(["B"]))
    }

    @Test("duplicate lines are summed before checking")
    func summedLines() {
        let items = [LineItem(sku: "A", quantity: 3), LineItem(sku: "A", quantity: 3)]
        #expect(StockLedger.plan(items, available: ["A": 5]) == .reject(["A"]))
        #expect(StockLedger.plan(items, available: ["A": 6]) == .reserve(["A": 6]))
    }

    @Test("an unknown SKU rejects, and rejected SKUs are sorted")
    func unknownSku() {
        #expect(StockLedger.plan([LineItem(sku: "NOPE", quantity: 1)], available: ["A": 5]) == .reject(["NOPE"]))
        let plan = StockLedger.plan(
            [LineItem(sku: "Z", quantity: 1), LineItem(sku: "A", quantity: 9), LineItem(sku: "M", quantity: 1)],
            available: ["A": 5, "M": 1]
        )
        #expect(plan == .reject(["A", "Z"]))
    }

    @Test("an order without items reserves nothing and succeeds")
    func emptyItems() {
        #expect(StockLedger.plan([], available: [:]) == .reserve([:]))
        #expect(StockLedger.plan([], available: ["A": 1]) == .reserve([:]))
    }

    @Test("zero stock rejects")
    func zeroStock() {
        #expect(StockLedger.plan([LineItem(sku: "A", quantity: 1)], available: ["A": 0]) == .reject(["A"]))
    }
}

/// Where a test's store lives: a SQLite file in a fresh temporary directory (removed on deinit),
/// or a schema of its own on the test PostgreSQL server. Opening it again opens the same store,
/// as a restarted service (or a second instance, on PostgreSQL) does.
final class TemporaryDirectory: Sendable {
    let url: URL
    let name = TestPostgresServer.uniqueName()

    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("inventory-tests-\(UUID().uuidString)")
    }

    func openStore(_ backend: TestBackend) async throws -> EventStore {
        switch backend {
        case .sqlite:
            try await EventStore(
                directory: url.path,
                name: "inventory-service",
                topics: .defaults,
                migrations: InventoryService.migrations
            )
        case .postgres:
            try await EventStore(
                url: try DatabaseURL(try await TestPostgresServer.shared().url),
                name: name,
                topics: .defaults,
                migrations: InventoryService.migrations,
                logger: Logger(label: "t")
            )
        }
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }
}

@Suite("InventoryService handler on a real SQLite file and a real PostgreSQL server")
struct InventoryServiceHandlerTests {
    let directory = TemporaryDirectory()

    static func makeService(stock: String = "A=5,B=1") throws -> InventoryService {
        try InventoryService(
            configuration: try ServiceConfiguration(identity: InventoryService.identity, environment: [:]),
            reader: ConfigReader(environment: ["INVENTORY_STOCK": stock]),
            logger: Logger(label: "t")
        )
    }

    func paymentCompleted(_ orderId: String, _ items: [LineItem]) -> EventEnvelope {
        EventEnvelope(
            orderId: orderId,
            correlationId: "corr-\(orderId)",
            payload: .paymentCompleted(
                PaymentCompleted(
                    paymentId: "pay-\(orderId)",
                    amount: Amount(exactly: "10")!,
                    currency: "USD",
                    customerEmail: "ada@example.com",
                    items: items
                )
            )
        )
    }

    func deliver(
        _ envelope: EventEnvelope,
        to service: InventoryService,
        in store: EventStore
    ) async throws -> (EventStore.Outcome, [EventEnvelope]) {
        try await store.handle(envelope, topic: store.topics.paymentsCompleted, trace: nil) { transaction in
            try service.handle(envelope, in: transaction).events
        }
    }

    func stock(_ store: EventStore) async throws -> [String: Int] {
        try await store.database.read { transaction in
            try Dictionary(
                uniqueKeysWithValues: transaction.fetchAll("SELECT sku, available FROM stock", []).map {
                    (try $0["sku"] as String, try $0["available"] as Int)
                }
            )
        }
    }

    @Test("prepare seeds the configured stock", arguments: TestBackend.allCases)
    func seeds(_ backend: TestBackend) async throws {
        let store = try await directory.openStore(backend)
        try await Self.makeService().prepare(store: store)
        #expect(try await stock(store) == ["A": 5, "B": 1])
    }

    @Test("a bad INVENTORY_STOCK names the variable and the entry")
    func badStock() throws {
        let error = #expect(throws: ServiceConfigurationError.self) { try Self.makeService(stock: "A=5,B=x") }
        #expect(error?.variable == "INVENTORY_STOCK")
        #expect(error?.description.contains("B=x") == true)
    }

    @Test("a reservation decrements stock and publishes InventoryReserved", arguments: TestBackend.allCases)
    func reserves(_ backend: TestBackend) async throws {
        let store = try await directory.openStore(backend)
        let service = try Self.makeService()
        try await service.prepare(store: store)

        let items = [LineItem(sku: "A", quantity: 2), LineItem(sku: "B", quantity: 1), LineItem(sku: "A", quantity: 1)]
        let (outcome, events) = try await deliver(paymentCompleted("o1", items), to: service, in: store)
        #expect(outcome == .processed)
        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(event.orderId == "o1")
        #expect(event.correlationId == "corr-o1")
        #expect(event.payload == .inventoryReserved(InventoryReserved(items: items, customerEmail: "ada@example.com")))
        #expect(try await stock(store) == ["A": 2, "B": 0])
        #expect(try await unsentRows(store, atLeast: 1).map(\.message.topic) == [Topics.defaults.inventoryReserved])
    }

    @Test(
        "a rejection leaves stock untouched and publishes InventoryRejected(out_of_stock)",
        arguments: TestBackend.allCases
    )
    func rejects(_ backend: TestBackend) async throws {
        let store = try await directory.openStore(backend)
        let service = try Self.makeService()
        try await service.prepare(store: store)

        let items = [
            LineItem(sku: "A", quantity: 2), LineItem(sku: "B", quantity: 2), LineItem(sku: "GHOST", quantity: 1),
        ]
        let (_, events) = try await deliver(paymentCompleted("o2", items), to: service, in: store)
        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(event.orderId == "o2")
        #expect(event.correlationId == "corr-o2")
        #expect(
            event.payload
                == .inventoryRejected(
                    InventoryRejected(
                        reason: .outOfStock,
                        unavailable: ["B", "GHOST"],
                        customerEmail: "ada@example.com"
                    )
                )
        )
        #expect(try await stock(store) == ["A": 5, "B": 1])
        #expect(try await unsentRows(store, atLeast: 1).map(\.message.topic) == [Topics.defaults.inventoryRejected])
    }

    @Test("an order without items is reserved without touching stock", arguments: TestBackend.allCases)
    func emptyOrder(_ backend: TestBackend) async throws {
        let store = try await directory.openStore(backend)
        let service = try Self.makeService()
        try await service.prepare(store: store)
        let (_, events) = try await deliver(paymentCompleted("o3", []), to: service, in: store)
        #expect(events.map(\.type) == [.inventoryReserved])
        #expect(try await stock(store) == ["A": 5, "B": 1])
    }

    @Test("a repeated PaymentCompleted does not reserve twice", arguments: TestBackend.allCases)
    func noDoubleReservation(_ backend: TestBackend) async throws {
        let store = try await directory.openStore(backend)
        let service = try Self.makeService()
        try await service.prepare(store: store)
        let event = paymentCompleted("o4", [LineItem(sku: "A", quantity: 2)])
        #expect(try await deliver(event, to: service, in: store).0 == .processed)
        #expect(try await deliver(event, to: service, in: store).0 == .duplicate)
        let again = try await deliver(paymentCompleted("o4", [LineItem(sku: "A", quantity: 2)]), to: service, in: store)
        #expect(again.0 == .processed)
        #expect(again.1.isEmpty)
        #expect(try await stock(store)["A"] == 3)
        #expect(try await unsentRows(store, atLeast: 1).count == 1)
    }

    @Test("running prepare again, even after a restart, does not reset stock", arguments: TestBackend.allCases)
    func prepareKeepsStock(_ backend: TestBackend) async throws {
        do {
            let store = try await directory.openStore(backend)
            let service = try Self.makeService()
            try await service.prepare(store: store)
            _ = try await deliver(paymentCompleted("o5", [LineItem(sku: "A", quantity: 4)]), to: service, in: store)
            try await service.prepare(store: store)
            #expect(try await stock(store) == ["A": 1, "B": 1])
        }
        // Reopen the same file, as a restarted service does, with a larger configured stock and a new SKU.
        let reopened = try await directory.openStore(backend)
        try await Self.makeService(stock: "A=50,B=10,C=7").prepare(store: reopened)
        #expect(try await stock(reopened) == ["A": 1, "B": 1, "C": 7])
    }

    @Test("a type inventory does not consume is rejected", arguments: TestBackend.allCases)
    func rejectsOtherTypes(_ backend: TestBackend) async throws {
        let store = try await directory.openStore(backend)
        let service = try Self.makeService()
        let event = EventEnvelope(
            orderId: "o6",
            correlationId: "c",
            payload: .inventoryReserved(InventoryReserved(items: [], customerEmail: nil))
        )
        await #expect(throws: EventRejected.self) { try await deliver(event, to: service, in: store) }
    }

    @Test("instances reserving at once on one PostgreSQL schema never oversell: exactly the stock is reserved")
    func concurrentInstancesNeverOversell() async throws {
        let first = try await directory.openStore(.postgres)
        let second = try await directory.openStore(.postgres)
        let service = try Self.makeService(stock: "A=10,B=1")
        try await service.prepare(store: first)
        try await service.prepare(store: second)
        let orders = (0..<40).map { paymentCompleted("race-\($0)", [LineItem(sku: "A", quantity: 1)]) }
        // Four consume loops per instance, each one transaction at a time, as partitions are.
        let reserved = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                let store = worker.isMultiple(of: 2) ? first : second
                let share = orders.enumerated().filter { $0.offset % 8 == worker }.map(\.element)
                group.addTask {
                    var reserved = 0
                    for order in share {
                        // A lost race on the reservation's key is transient: retried as the consume loop would.
                        while true {
                            do {
                                let (_, events) = try await deliver(order, to: service, in: store)
                                reserved += events.filter { $0.type == .inventoryReserved }.count
                                break
                            } catch  where StoreFailure(error)?.isTransient == true {
                                continue
                            }
                        }
                    }
                    return reserved
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(reserved == 10)
        #expect(try await stock(first) == ["A": 0, "B": 1])
        let topics = try await unsentRows(first, atLeast: orders.count).map(\.message.topic)
        #expect(topics.filter { $0 == Topics.defaults.inventoryReserved }.count == 10)
        #expect(topics.filter { $0 == Topics.defaults.inventoryRejected }.count == 30)
    }
}

/// The unsent rows once at least `count` of them are readable (on PostgreSQL a committed row is
/// readable once every older write transaction on the server has ended).
func unsentRows(_ store: EventStore, atLeast count: Int) async throws -> [OutboxRecord] {
    let deadline = ContinuousClock.now + .seconds(30)
    while try await store.unsent(limit: 100).count < count, ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await store.unsent(limit: 100)
}
