import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import OrderEvents
import ServiceKit

/// The order REST API on `PORT` (default 4000).
///
/// | route | answers |
/// |---|---|
/// | `POST /order`, `POST /orders` | 202 + order + `Location` (new), 200 (same body again), 409 `order_conflict`, 400, 413, 415 |
/// | `GET /orders/{id}` | 200 order, 404 `order_not_found` |
/// | `GET /orders?status=&limit=` | 200 `{"orders":[…]}`, newest first; 400 `invalid_query` |
///
/// An accepted order and its `orders.created` event are committed in one transaction (shared
/// with concurrent POSTs by ``OrderIntake``) before the 202 is sent, so an accepted order is
/// never lost, even while Kafka is down: the relay publishes it when Kafka is back.
public enum OrderAPI {
    /// Requests larger than this are refused with 413.
    public static let maximumBodyBytes = 64 * 1024
    /// How many orders `GET /orders` answers without `limit`.
    public static let defaultListLimit = 50
    /// The largest accepted `limit` of `GET /orders`.
    public static let maximumListLimit = 500

    /// The order API server on `host:port`, serving ``buildRouter(store:intake:ordersTopic:logger:)``
    /// over the service's store and intake. Runs as a `Service` until graceful shutdown; closes
    /// connections idle for ``HTTPServerPolicy/idleTimeout``.
    public static func buildApplication(
        host: String,
        port: Int,
        runtime: ServiceRuntime,
        intake: OrderIntake
    ) -> some ApplicationProtocol {
        Application(
            router: buildRouter(
                store: runtime.store,
                intake: intake,
                ordersTopic: runtime.configuration.topics.ordersCreated,
                logger: runtime.logger
            ),
            server: HTTPServerPolicy.http1(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "order-service"),
            logger: runtime.logger
        )
    }

    /// The routes of the table above. Orders are created through `intake` (which must be running
    /// for a POST to be answered) and read from `store`; `ordersTopic` only names the topic in logs.
    /// Every failure is answered as an ``APIError``.
    public static func buildRouter(
        store: EventStore,
        intake: OrderIntake,
        ordersTopic: String,
        logger: Logger
    ) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: APIErrorMiddleware(logger: logger))
        let create: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            try await createOrder(request, intake: intake, ordersTopic: ordersTopic, logger: logger)
        }
        router.post("order", use: create)
        router.post("orders", use: create)
        router.get("orders/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard
                let order = try await store.database.read({ transaction in try OrderTables.fetch(id, in: transaction) })
            else {
                throw APIError(.notFound, code: "order_not_found", message: "no order with id \(id)")
            }
            return try JSONResponse.make(.ok, OrderView(order))
        }
        router.get("orders") { request, _ in
            let (status, limit) = try listQuery(request.uri.queryParameters)
            let orders = try await store.database.read { transaction in
                try OrderTables.list(status: status, limit: limit, in: transaction)
            }
            return try JSONResponse.make(.ok, OrderList(orders: orders.map(OrderView.init)))
        }
        return router
    }

    /// The body's `orderId`; else the `Idempotency-Key` header, which becomes the order's id, so
    /// a retried POST finds the order the first one created (200 with it, 409 for another body);
    /// else a new UUID. A key that is not a valid order id, differs from the body's `orderId`, or
    /// comes twice, is refused: each would leave a retry unsure which order it made.
    static func orderId(of order: OrderRequest, idempotencyKeys: [String]) throws(APIError) -> String {
        guard let key = idempotencyKeys.first else { return order.orderId ?? UUID().uuidString.lowercased() }
        guard idempotencyKeys.count == 1 else {
            let message = "send one Idempotency-Key header, not \(idempotencyKeys.count)"
            throw APIError(.badRequest, code: "invalid_header", message: message, field: "Idempotency-Key")
        }
        guard OrderRequest.isIdentifier(key) else {
            let message = "Idempotency-Key must be 1–64 characters from A-Z a-z 0-9 . _ - (it becomes the order's id)"
            throw APIError(.badRequest, code: "invalid_header", message: message, field: "Idempotency-Key")
        }
        if let orderId = order.orderId, orderId != key {
            let message = "Idempotency-Key \(key) differs from orderId \(orderId); send one, or the same in both"
            throw APIError(.badRequest, code: "invalid_header", message: message, field: "Idempotency-Key")
        }
        return key
    }

    static func createOrder(
        _ request: Request,
        intake: OrderIntake,
        ordersTopic: String,
        logger: Logger
    ) async throws -> Response {
        guard isJSON(request.headers[.contentType]) else {
            countReceived(.invalid)
            throw APIError(
                .unsupportedMediaType,
                code: "unsupported_media_type",
                message: "send the order as Content-Type: application/json"
            )
        }
        let order: OrderRequest
        let orderId: String
        do {
            let body = try await readBody(request)
            order = try OrderRequest.parse(body)
            orderId = try Self.orderId(of: order, idempotencyKeys: request.headers[values: .idempotencyKey])
        } catch {
            countReceived(.invalid)
            throw error
        }
        let trace = request.headers[.traceparent].flatMap(TraceContext.init(traceparent:)) ?? TraceContext.root()
        let outcome = try await intake.submit(order, orderId: orderId, trace: trace)
        switch outcome {
        case .accepted(let record):
            countReceived(.accepted)
            logger.info(
                "order \(orderId) accepted, published \(ordersTopic)",
                metadata: [
                    "orderId": .string(orderId), "amount": .string(record.amount.description),
                    "items": .stringConvertible(record.items.count),
                ]
            )
            return try JSONResponse.make(.accepted, OrderView(record), headers: [.location: "/orders/\(orderId)"])
        case .repeated(let record):
            countReceived(.duplicate)
            return try JSONResponse.make(.ok, OrderView(record), headers: [.location: "/orders/\(orderId)"])
        case .conflict:
            countReceived(.conflict)
            throw APIError(
                .conflict,
                code: "order_conflict",
                message: "order \(orderId) already exists with a different body",
                field: "orderId"
            )
        }
    }

    /// The `outcome` label of `orders_received_total`.
    enum ReceivedOutcome: String, CaseIterable {
        case accepted, duplicate, conflict, invalid
    }

    static func countReceived(_ outcome: ReceivedOutcome, by amount: Int = 1) {
        Counter(label: "orders_received_total", dimensions: [("outcome", outcome.rawValue)]).increment(by: amount)
    }

    static func readBody(_ request: Request) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maximumBodyBytes {
            throw tooLarge
        }
        do {
            let buffer = try await request.body.collect(upTo: maximumBodyBytes)
            return Array(buffer.readableBytesView)
        } catch {
            throw tooLarge
        }
    }

    static let tooLarge = APIError(
        .contentTooLarge,
        code: "payload_too_large",
        message: "the body is larger than \(maximumBodyBytes) bytes"
    )

    static func isJSON(_ contentType: String?) -> Bool {
        guard let type = contentType?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        else {
            return false
        }
        return type == "application/json" || (type.hasPrefix("application/") && type.hasSuffix("+json"))
    }

    static func listQuery(_ query: Hummingbird.Parameters) throws(APIError) -> (OrderStatus?, Int) {
        var status: OrderStatus?
        if let text = query["status"].map(String.init), !text.isEmpty {
            guard let parsed = OrderStatus(rawValue: text.uppercased()) else {
                throw APIError(
                    .badRequest,
                    code: "invalid_query",
                    message: "status must be one of \(OrderStatus.allCases.map(\.rawValue).joined(separator: ", "))",
                    field: "status"
                )
            }
            status = parsed
        }
        var limit = defaultListLimit
        if let text = query["limit"].map(String.init), !text.isEmpty {
            guard let parsed = Int(text), (1...maximumListLimit).contains(parsed) else {
                throw APIError(
                    .badRequest,
                    code: "invalid_query",
                    message: "limit must be a whole number from 1 to \(maximumListLimit)",
                    field: "limit"
                )
            }
            limit = parsed
        }
        return (status, limit)
    }
}

extension HTTPField.Name {
    static let traceparent = HTTPField.Name("traceparent")!
}

struct OrderList: Encodable {
    var orders: [OrderView]
}

/// The JSON shape of an order. ``OrderedJSONEncoder`` writes the keys in the order declared here,
/// which the README documents: `orderId`, `status`, then the rest.
struct OrderView: Encodable {
    struct Customer: Encodable { var email: String }

    var orderId: String
    var status: OrderStatus
    var reason: CancellationReason?
    var amount: Decimal
    var currency: String
    var customer: Customer?
    var items: [LineItem]
    var refunded: Bool
    var createdAt: String
    var history: [OrderRecord.HistoryEntry]

    init(_ record: OrderRecord) {
        orderId = record.orderId
        status = record.status
        reason = record.reason
        amount = record.amount.decimal
        currency = record.currency
        customer = record.customerEmail.map(Customer.init(email:))
        items = record.items
        refunded = record.refunded
        createdAt = record.createdAt
        history = record.history
    }
}

extension HTTPField.Name {
    /// `Idempotency-Key` (IETF httpapi draft): a client's key that makes a retried POST safe.
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}
