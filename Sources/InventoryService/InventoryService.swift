import Configuration
import Foundation
import GRDB
import Logging
import OrderEvents
import ServiceKit

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

    public static func migrate(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("inventory-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE stock (
                        sku TEXT PRIMARY KEY NOT NULL,
                        available INTEGER NOT NULL CHECK (available >= 0)
                    ) WITHOUT ROWID;
                    CREATE TABLE reservations (
                        order_id TEXT PRIMARY KEY NOT NULL,
                        items TEXT NOT NULL,
                        created_at TEXT NOT NULL
                    ) WITHOUT ROWID;
                    """
            )
        }
    }

    /// Seeds SKUs that are not in the database yet; stock already persisted is never reset.
    public func prepare(store: EventStore) async throws {
        let added = try await store.database.write { [seed] db in
            var added = 0
            for (sku, quantity) in seed.sorted(by: { $0.key < $1.key }) {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO stock (sku, available) VALUES (?, ?)",
                    arguments: [sku, quantity]
                )
                added += db.changesCount
            }
            return added
        }
        logger.info("stock ready: \(seed.count) SKUs configured, \(added) newly seeded")
    }

    // Configured once and never mutated: safe to share.
    private static let itemsEncoder = JSONEncoder()

    public func handle(_ event: EventEnvelope, in db: Database) throws -> Reaction {
        guard case .paymentCompleted(let payment) = event.payload else {
            throw EventRejected("inventory-service does not consume \(event.type.rawValue) events")
        }
        if try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT 1 FROM reservations WHERE order_id = ?"),
            arguments: [event.orderId]
        ) == true {
            return Reaction(
                summary: "stock for order \(event.orderId) already reserved; ignored a second PaymentCompleted",
                level: .warning
            )
        }
        var available: [String: Int] = [:]
        for sku in Set(payment.items.map(\.sku)) {
            available[sku] = try Int.fetchOne(
                db.cachedStatement(sql: "SELECT available FROM stock WHERE sku = ?"),
                arguments: [sku]
            )
        }
        switch StockLedger.plan(payment.items, available: available) {
        case .reserve(let quantities):
            for (sku, quantity) in quantities {
                try db.cachedStatement(sql: "UPDATE stock SET available = available - ? WHERE sku = ?").execute(
                    arguments: [quantity, sku])
            }
            try db.cachedStatement(sql: "INSERT INTO reservations (order_id, items, created_at) VALUES (?, ?, ?)")
                .execute(
                    arguments: [
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
}
