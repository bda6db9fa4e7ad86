import Configuration
import Foundation
import Logging
import OrderEvents
import ServiceKit
import Storage

/// inventory-service: reserves stock for each paid order, all or nothing, and answers
/// `inventory.rejected` (out_of_stock) when a SKU is unknown or short.
public struct InventoryService: PlatformService {
    public static let identity = ServiceIdentity(
        name: "inventory-service",
        metricsPort: 9102,
        groupIdVariable: "INVENTORY_GROUP_ID",
        subscriptions: { [$0.paymentsCompleted] }
    )

    let seed: [String: Int]
    let logger: Logger

    public init(
        configuration: ServiceConfiguration,
        reader: ConfigReader,
        logger: Logger
    ) throws(ServiceConfigurationError) {
        let text = reader.trimmedString(forKey: "inventory.stock", default: StockLedger.defaultStock)
        switch StockLedger.parse(text) {
        case .success(let stock): seed = stock
        case .failure(let error):
            throw ServiceConfigurationError(
                variable: "INVENTORY_STOCK",
                problem: "entry \"\(error.entry)\" is not sku=quantity (quantity ≥ 0, each SKU once)"
            )
        }
        self.logger = logger
    }

    public static let migrations = [
        Migration(
            "inventory-v1",
            portable: """
                CREATE TABLE stock (
                    sku TEXT PRIMARY KEY NOT NULL,
                    available {INT64} NOT NULL CHECK (available >= 0)
                ){KEYED};
                CREATE TABLE reservations (
                    order_id TEXT PRIMARY KEY NOT NULL,
                    items TEXT NOT NULL,
                    created_at TEXT NOT NULL
                ){KEYED};
                """
        )
    ]

    /// Seeds SKUs that are not in the database yet; stock already persisted is never reset (nor
    /// by a second instance starting with the same `INVENTORY_STOCK`).
    public func prepare(store: EventStore) async throws {
        let added = try await store.database.write { [seed] transaction in
            var added = 0
            for (sku, quantity) in seed.sorted(by: { $0.key < $1.key }) {
                added += try transaction.execute(
                    "INSERT INTO stock (sku, available) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [sku, quantity]
                )
            }
            return added
        }
        logger.info("stock ready: \(seed.count) SKUs configured, \(added) newly seeded")
    }

    // Configured once and never mutated: safe to share.
    private static let itemsEncoder = JSONEncoder()

    public func handle(_ event: EventEnvelope, in transaction: any SQLTransaction) throws -> Reaction {
        guard case .paymentCompleted(let payment) = event.payload else {
            throw EventRejected("inventory-service does not consume \(event.type.rawValue) events")
        }
        // A second PaymentCompleted committing at once on another instance makes the
        // reservation's insert fail on the primary key (transient): the retry finds this row.
        if try transaction.fetchValue(Int.self, "SELECT 1 FROM reservations WHERE order_id = ?", [event.orderId]) == 1 {
            return Reaction(
                summary: "stock for order \(event.orderId) already reserved; ignored a second PaymentCompleted",
                level: .warning
            )
        }
        switch try reserve(payment.items, in: transaction) {
        case .reserve:
            try transaction.send(
                "INSERT INTO reservations (order_id, items, created_at) VALUES (?, ?, ?)",
                [
                    event.orderId, String(decoding: try Self.itemsEncoder.encode(payment.items), as: UTF8.self),
                    Timestamp.format(Date()),
                ]
            )
            let reserved = InventoryReserved(items: payment.items, customerEmail: payment.customerEmail)
            let what = payment.items.isEmpty ? "no items to reserve" : "\(payment.items.count) line(s)"
            return Reaction(
                events: [event.caused(.inventoryReserved(reserved))],
                summary: "reserved stock (\(what)), published inventory.reserved"
            )
        case .reject(let unavailable):
            let rejected = InventoryRejected(
                reason: .outOfStock,
                unavailable: unavailable,
                customerEmail: payment.customerEmail
            )
            return Reaction(
                events: [event.caused(.inventoryRejected(rejected))],
                summary: "out of stock (\(unavailable.joined(separator: ", "))), published inventory.rejected"
            )
        }
    }

    /// Takes the items' quantities off the stock, all or nothing, and says what it did.
    ///
    /// Each SKU's decrement is conditional (`available >= quantity`), so stock never goes below
    /// zero however many instances reserve at once. When one finds less than it planned with
    /// (another instance took stock since the read), the SKUs already decremented are rolled
    /// back with the savepoint and the plan is made again from what is there now.
    private func reserve(_ items: [LineItem], in transaction: any SQLTransaction) throws -> StockLedger.Plan {
        while true {
            var available: [String: Int] = [:]
            for sku in Set(items.map(\.sku)) {
                available[sku] = try transaction.fetchValue(
                    Int.self,
                    "SELECT available FROM stock WHERE sku = ?",
                    [sku]
                )
            }
            let plan = StockLedger.plan(items, available: available)
            guard case .reserve(let quantities) = plan else { return plan }
            do {
                try transaction.savepoint {
                    for (sku, quantity) in quantities {
                        let taken = try transaction.execute(
                            "UPDATE stock SET available = available - ? WHERE sku = ? AND available >= ?",
                            [quantity, sku, quantity]
                        )
                        guard taken == 1 else { throw StockMoved() }
                    }
                }
                return plan
            } catch is StockMoved {
                continue
            }
        }
    }

    /// Another transaction took stock between the read and the decrement.
    private struct StockMoved: Error {}
}
