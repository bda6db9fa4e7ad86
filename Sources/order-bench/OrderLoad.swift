import NIOCore

/// Sends the run's orders: one worker per keep-alive connection, all taking from one
/// ``LoadSchedule``, every outcome written to the ``OrderLedger``.
struct OrderLoad: Sendable {
    var settings: BenchSettings
    /// The order APIs; connection i goes to `apis[i % apis.count]` (several order-service instances).
    var apis: [APIEndpoint]
    var group: any EventLoopGroup
    var ledger: OrderLedger
    /// The body of order `number` named `orderId`; every order is ``body(orderId:)`` by default.
    var makeBody: @Sendable (_ number: Int, _ orderId: String) -> String = { body(orderId: $1) }

    /// The order body. `customer.email` is the API's field for the customer (it refuses unknown
    /// fields); amount 42 is below the payment limit and SKU-1 is stocked for any run, so orders
    /// complete unless the platform misbehaves.
    static func body(orderId: String) -> String {
        #"{"orderId":"\#(orderId)","amount":42,"items":[{"sku":"SKU-1","quantity":1}],"customer":{"email":"bench@example.com"}}"#
    }

    /// Opens every connection first (so connecting is not measured), then sends until the
    /// schedule is over and every request has its answer or its timeout.
    func run() async throws(HTTPClientError) {
        var connections: [HTTPConnection] = []
        for index in 0..<settings.connections {
            connections.append(try await HTTPConnection.connect(to: apis[index % apis.count], on: group))
        }
        let start = ContinuousClock.now
        let schedule = LoadSchedule(
            load: settings.load,
            start: start,
            warmup: settings.warmup,
            duration: settings.duration
        )
        await withTaskGroup(of: Void.self) { group in
            for (index, connection) in connections.enumerated() {
                group.addTask { await worker(connection, to: apis[index % apis.count], schedule) }
            }
        }
    }

    private func worker(_ first: HTTPConnection, to api: APIEndpoint, _ schedule: LoadSchedule) async {
        var connection: HTTPConnection? = first
        while !Task.isCancelled, let slot = schedule.take() {
            if let due = slot.due, due > .now {
                do { try await Task.sleep(until: due, clock: .continuous) } catch { break }
            }
            let orderId = settings.orderIdPrefix + String(slot.number)
            ledger.sending(slot, origin: slot.due ?? .now)
            do {
                if connection == nil || connection?.isUsable == false {
                    connection = try await HTTPConnection.connect(to: api, on: group)
                }
                let reply = try await connection!.send(
                    .POST,
                    "/order",
                    body: ByteBuffer(string: makeBody(slot.number, orderId)),
                    timeout: settings.requestTimeout
                )
                if reply.status == 202 {
                    ledger.accepted(slot.number, at: .now)
                } else {
                    ledger.failed(slot.number, reason: "HTTP \(reply.status)")
                }
            } catch {
                ledger.failed(slot.number, reason: error.reason)
                await connection?.close()
                connection = nil
            }
        }
        await connection?.close()
    }
}
