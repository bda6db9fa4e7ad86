import Foundation
import Storage
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
    static let migrations = [
        Migration(
            "orders-v1",
            portable: """
                CREATE TABLE orders (
                    seq {ID},
                    order_id TEXT NOT NULL UNIQUE,
                    status TEXT NOT NULL,
                    reason TEXT,
                    amount_minor {INT64} NOT NULL,
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
                ){KEYED};
                CREATE TABLE parked_events (
                    seq {ID},
                    order_id TEXT NOT NULL,
                    event {BYTES} NOT NULL
                );
                CREATE INDEX parked_by_order ON parked_events(order_id, seq);
                """
        )
    ]

    static func insert(
        _ request: OrderRequest,
        orderId: String,
        correlationId: String,
        at now: String,
        in transaction: any SQLTransaction
    ) throws {
        let items = String(decoding: try itemsEncoder.encode(request.items), as: UTF8.self)
        try transaction.execute(
            """
            INSERT INTO orders (order_id, status, amount_minor, currency, customer_email, items, fingerprint, correlation_id, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                orderId, OrderStatus.pending.rawValue, request.amount.minorUnits, request.currency,
                request.customerEmail, items, request.fingerprint, correlationId, now, now,
            ]
        )
        try appendHistory(orderId, .pending, at: now, in: transaction)
    }

    /// Appends to the order's history; the caller holds the order's row (``progress(_:in:)``).
    static func appendHistory(
        _ orderId: String,
        _ status: OrderStatus,
        at: String,
        in transaction: any SQLTransaction
    ) throws {
        try transaction.send(
            """
            INSERT INTO order_history (order_id, position, status, at)
            VALUES (?, (SELECT COUNT(*) FROM order_history WHERE order_id = ?), ?, ?)
            """,
            [orderId, orderId, status.rawValue, at]
        )
    }

    static func fetch(_ orderId: String, in transaction: any SQLTransaction) throws -> OrderRecord? {
        try transaction.fetchOne("SELECT * FROM orders WHERE order_id = ?", [orderId]).map {
            try record($0, in: transaction)
        }
    }

    /// What the consumer needs to move an order on: its status, when it was accepted and whether
    /// facts that arrived early are parked for it. On
    /// PostgreSQL the order's row is locked until the transaction ends: events of one order
    /// from different topics may be handled at once by two instances, and each must see the
    /// status the other left.
    static func progress(
        _ orderId: String,
        in transaction: any SQLTransaction
    ) throws -> (status: OrderStatus, createdAt: String, hasParked: Bool)? {
        let lock = transaction.dialect == .postgres ? " FOR UPDATE" : ""
        // Whether facts are parked comes with the row: most orders have none, and the handler
        // then skips the query for them (a round trip on PostgreSQL).
        guard
            let row = try transaction.fetchOne(
                """
                SELECT status, created_at, EXISTS (SELECT 1 FROM parked_events WHERE order_id = ?)
                FROM orders WHERE order_id = ?\(lock)
                """,
                [orderId, orderId]
            )
        else { return nil }
        return (OrderStatus(rawValue: try row[0]) ?? .pending, try row[1], try row[2])
    }

    /// The fingerprint of the stored order's body, nil when no order has this id.
    static func fingerprint(_ orderId: String, in transaction: any SQLTransaction) throws -> String? {
        try transaction.fetchValue(String.self, "SELECT fingerprint FROM orders WHERE order_id = ?", [orderId])
    }

    /// The newest `limit` orders (of `status`, when given), each with its history: two queries
    /// whatever the limit, not one per order, which the same read transaction sees consistently.
    static func list(status: OrderStatus?, limit: Int, in transaction: any SQLTransaction) throws -> [OrderRecord] {
        let rows =
            if let status {
                try transaction.fetchAll(
                    "SELECT * FROM orders WHERE status = ? ORDER BY seq DESC LIMIT ?",
                    [status.rawValue, limit]
                )
            } else {
                try transaction.fetchAll("SELECT * FROM orders ORDER BY seq DESC LIMIT ?", [limit])
            }
        let ids: [String] = try rows.map { try $0["order_id"] }
        guard !ids.isEmpty else { return [] }
        var histories: [String: [OrderRecord.HistoryEntry]] = [:]
        for entry in try transaction.fetchAll(
            """
            SELECT order_id, status, at FROM order_history
            WHERE order_id IN (\(SQLArguments.placeholders(ids.count))) ORDER BY order_id, position
            """,
            SQLArguments(ids.map(\.sqlValue))
        ) {
            histories[try entry["order_id"], default: []].append(try historyEntry(entry))
        }
        return try zip(rows, ids).map { row, id in try record(row, history: histories[id] ?? []) }
    }

    static func record(_ row: SQLRow, in transaction: any SQLTransaction) throws -> OrderRecord {
        let orderId: String = try row["order_id"]
        let history = try transaction.fetchAll(
            "SELECT status, at FROM order_history WHERE order_id = ? ORDER BY position",
            [orderId]
        ).map(historyEntry)
        return try record(row, history: history)
    }

    private static func historyEntry(_ row: SQLRow) throws -> OrderRecord.HistoryEntry {
        OrderRecord.HistoryEntry(status: OrderStatus(rawValue: try row["status"]) ?? .pending, at: try row["at"])
    }

    private static func record(_ row: SQLRow, history: [OrderRecord.HistoryEntry]) throws -> OrderRecord {
        let orderId: String = try row["order_id"]
        let items: String = try row["items"]
        let reason: String? = try row["reason"]
        return OrderRecord(
            orderId: orderId,
            status: OrderStatus(rawValue: try row["status"]) ?? .pending,
            reason: reason.flatMap(CancellationReason.init(rawValue:)),
            amount: Amount(uncheckedMinorUnits: try row["amount_minor"]),
            currency: try row["currency"],
            customerEmail: try row["customer_email"],
            items: try itemsDecoder.decode([LineItem].self, from: Data(items.utf8)),
            refunded: try row["refunded"],
            createdAt: try row["created_at"],
            history: history,
            fingerprint: try row["fingerprint"],
            correlationId: try row["correlation_id"]
        )
    }

    static func setStatus(
        _ orderId: String,
        _ status: OrderStatus,
        reason: CancellationReason?,
        at now: String,
        in transaction: any SQLTransaction
    ) throws {
        try transaction.send(
            "UPDATE orders SET status = ?, reason = ?, updated_at = ? WHERE order_id = ?",
            [status.rawValue, reason?.rawValue, now, orderId]
        )
        try appendHistory(orderId, status, at: now, in: transaction)
    }

    // Configured once and never mutated, so safe to share between the writer and readers.
    private static let itemsEncoder = JSONEncoder()
    private static let itemsDecoder = JSONDecoder()
}
