import Foundation
import NIOCore

/// Asks the order API which of this run's orders are not finished: after the drain, none may be
/// listed as PENDING, PAID or RESERVED (`GET /orders?status=…&limit=500`, newest first, so any
/// straggler of this run is among them unless 500 newer orders of others are too).
struct NonTerminalCheck: Sendable {
    static let statuses = ["PENDING", "PAID", "RESERVED"]

    var api: APIEndpoint
    var prefix: String
    var group: any EventLoopGroup
    var timeout: Duration
    /// How long order-service may take to apply the last notifications: the bench sees each
    /// `notifications.sent` at about the moment order-service does, not after its commit.
    var settleTimeout: Duration = .seconds(10)

    private struct Listing: Decodable {
        struct Order: Decodable { var orderId: String }
        var orders: [Order]
    }

    /// - Returns: the ids of this run's orders still in a non-terminal status once none is left
    ///   or `settleTimeout` passed, whichever comes first.
    func run() async throws(BenchError) -> [String] {
        let connection: HTTPConnection
        do {
            connection = try await HTTPConnection.connect(to: api, on: group)
        } catch {
            throw .http("cannot list non-terminal orders: \(error)")
        }
        let deadline = ContinuousClock.now + settleTimeout
        var result: Result<[String], BenchError>
        repeat {
            do {
                result = .success(try await list(on: connection))
            } catch {
                result = .failure(error)
            }
            guard case .success(let left) = result, !left.isEmpty, ContinuousClock.now < deadline else { break }
            try? await Task.sleep(for: .milliseconds(50))
        } while true
        await connection.close()
        return try result.get()
    }

    private func list(on connection: HTTPConnection) async throws(BenchError) -> [String] {
        var found: [String] = []
        for status in Self.statuses {
            let reply: HTTPReply
            do {
                reply = try await connection.send(
                    .GET,
                    "/orders?status=\(status)&limit=500",
                    collectBody: true,
                    timeout: timeout
                )
            } catch {
                throw .http("GET /orders?status=\(status): \(error)")
            }
            guard reply.status == 200, let body = reply.body,
                let listing = try? JSONDecoder().decode(Listing.self, from: Data(body.readableBytesView))
            else {
                throw .http("GET /orders?status=\(status) answered \(reply.status), not a list of orders")
            }
            found += listing.orders.map(\.orderId).filter { $0.hasPrefix(prefix) }
        }
        return found
    }
}
