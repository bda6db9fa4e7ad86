import Foundation
import GRDB
import OrderEvents

/// An order as stored and as answered by `GET /orders/{id}`.
public struct OrderRecord: Sendable, Hashable {
    /// One status the order reached, and when (`status`, then `at`, in JSON).
    public struct HistoryEntry: Sendable, Hashable, Encodable {
        /// The status reached.
        public var status: OrderStatus
        /// When, as an ISO 8601 UTC timestamp with milliseconds.
        public var at: String
    }

    /// The order's id, unique in the store.
    public var orderId: String
    /// Where the order is in ``OrderStateMachine``.
    public var status: OrderStatus
    /// Why it was cancelled; nil unless ``status`` is cancelled.
    public var reason: CancellationReason?
    /// The amount, exact to the cent.
    public var amount: Amount
    /// The 3-letter currency code.
    public var currency: String
    /// The customer's email, when the order named one.
    public var customerEmail: String?
    /// The ordered items, in the request's order.
    public var items: [LineItem]
    /// Whether the payment was refunded (after an out-of-stock cancellation).
    public var refunded: Bool
    /// When the order was accepted, as an ISO 8601 UTC timestamp with milliseconds.
    public var createdAt: String
    /// Every status the order reached, oldest first, starting with PENDING.
    public var history: [HistoryEntry]
    var fingerprint: String
    var correlationId: String
}

/// The order tables: orders, their status history, and facts parked until they can apply.
enum OrderTables {
    static func migrate(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("orders-v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE orders (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        order_id TEXT NOT NULL UNIQUE,
                        status TEXT NOT NULL,
                        reason TEXT,
                        amount_minor INTEGER NOT NULL,
                        currency TEXT NOT NULL,
                        customer_email TEXT,
                        items TEXT NOT NULL,
                        refunded INTEGER NOT NULL DEFAULT 0,
                        fingerprint TEXT NOT NULL,
                        correlation_id TEXT NOT NULL,
                        created_at TEXT NOT NULL,
                        updated_at TEXT NOT NULL
                    );
                    CREATE INDEX orders_by_status ON orders(status, seq);
                    CREATE TABLE order_history (
                        order_id TEXT NOT NULL,
                        position INTEGER NOT NULL,
                        status TEXT NOT NULL,
                        at TEXT NOT NULL,
                        PRIMARY KEY (order_id, position)
                    ) WITHOUT ROWID;
                    CREATE TABLE parked_events (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        order_id TEXT NOT NULL,
                        event BLOB NOT NULL
                    );
                    CREATE INDEX parked_by_order ON parked_events(order_id, seq);
                    """
            )
        }
    }

    static func insert(
        _ request: OrderRequest,
        orderId: String,
        correlationId: String,
        at now: String,
        in db: Database
    ) throws {
        let items = String(decoding: try itemsEncoder.encode(request.items), as: UTF8.self)
        // Cached statements: these run for every order and event, and compiling SQL each time
        // was a tenth of order-service's CPU.
        try db.cachedStatement(
            sql: """
                INSERT INTO orders (order_id, status, amount_minor, currency, customer_email, items, fingerprint, correlation_id, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(
            arguments: [
                orderId, OrderStatus.pending.rawValue, request.amount.minorUnits, request.currency,
                request.customerEmail, items, request.fingerprint, correlationId, now, now,
            ]
        )
        try appendHistory(orderId, .pending, at: now, in: db)
    }

    static func appendHistory(_ orderId: String, _ status: OrderStatus, at: String, in db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO order_history (order_id, position, status, at)
                VALUES (?, (SELECT COUNT(*) FROM order_history WHERE order_id = ?), ?, ?)
                """
        ).execute(arguments: [orderId, orderId, status.rawValue, at])
    }

    static func fetch(_ orderId: String, in db: Database) throws -> OrderRecord? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM orders WHERE order_id = ?"),
                arguments: [orderId]
            )
        else {
            return nil
        }
        return try record(row, in: db)
    }

    /// What the consumer needs to move an order on: its status and when it was accepted.
    static func progress(_ orderId: String, in db: Database) throws -> (status: OrderStatus, createdAt: String)? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT status, created_at FROM orders WHERE order_id = ?"),
                arguments: [orderId]
            )
        else { return nil }
        return (OrderStatus(rawValue: row[0]) ?? .pending, row[1])
    }

    /// The fingerprint of the stored order's body, nil when no order has this id.
    static func fingerprint(_ orderId: String, in db: Database) throws -> String? {
        try String.fetchOne(
            db.cachedStatement(sql: "SELECT fingerprint FROM orders WHERE order_id = ?"),
            arguments: [orderId]
        )
    }

    static func list(status: OrderStatus?, limit: Int, in db: Database) throws -> [OrderRecord] {
        let rows =
            if let status {
                try Row.fetchAll(
                    db,
                    sql: "SELECT * FROM orders WHERE status = ? ORDER BY seq DESC LIMIT ?",
                    arguments: [status.rawValue, limit]
                )
            } else {
                try Row.fetchAll(db, sql: "SELECT * FROM orders ORDER BY seq DESC LIMIT ?", arguments: [limit])
            }
        return try rows.map { try record($0, in: db) }
    }

    static func record(_ row: Row, in db: Database) throws -> OrderRecord {
        let orderId: String = row["order_id"]
        let history = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT status, at FROM order_history WHERE order_id = ? ORDER BY position"),
            arguments: [orderId]
        ).map { OrderRecord.HistoryEntry(status: OrderStatus(rawValue: $0["status"]) ?? .pending, at: $0["at"]) }
        let items: String = row["items"]
        return OrderRecord(
            orderId: orderId,
            status: OrderStatus(rawValue: row["status"]) ?? .pending,
            reason: (row["reason"] as String?).flatMap(CancellationReason.init(rawValue:)),
            amount: Amount(uncheckedMinorUnits: row["amount_minor"]),
            currency: row["currency"],
            customerEmail: row["customer_email"],
            items: try itemsDecoder.decode([LineItem].self, from: Data(items.utf8)),
            refunded: row["refunded"],
            createdAt: row["created_at"],
            history: history,
            fingerprint: row["fingerprint"],
            correlationId: row["correlation_id"]
        )
    }

    static func setStatus(
        _ orderId: String,
        _ status: OrderStatus,
        reason: CancellationReason?,
        at now: String,
        in db: Database
    ) throws {
        try db.cachedStatement(sql: "UPDATE orders SET status = ?, reason = ?, updated_at = ? WHERE order_id = ?")
            .execute(arguments: [status.rawValue, reason?.rawValue, now, orderId])
        try appendHistory(orderId, status, at: now, in: db)
    }

    // Configured once and never mutated, so safe to share between the writer and readers.
    private static let itemsEncoder = JSONEncoder()
    private static let itemsDecoder = JSONDecoder()
}
