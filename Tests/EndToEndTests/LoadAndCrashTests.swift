import Foundation
import Kafka
import OrderEvents
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("End to end: 500 concurrent orders, with and without a crash", .serialized)
struct LoadAndCrashTests {
    /// Posts `count` orders, a mix of completing, declined and out-of-stock ones, 50 at a time.
    static func postOrders(_ platform: Platform, prefix: String, count: Int) async throws -> [String: String] {
        var expected: [String: String] = [:]
        try await withThrowingTaskGroup(of: (String, String).self) { group in
            for index in 0..<count {
                if index >= 50 {
                    let (id, status) = try await group.next()!
                    expected[id] = status
                }
                let id = "\(prefix)-\(index)"
                let (body, outcome) = Self.order(id, index)
                group.addTask {
                    let reply = try await platform.post(body)
                    guard reply.status == 202 else { throw PlatformError("\(id): \(reply.status) \(reply.body)") }
                    return (id, outcome)
                }
            }
            for try await (id, status) in group { expected[id] = status }
        }
        return expected
    }

    /// Every tenth order is over the payment limit, every tenth asks for an unknown SKU.
    static func order(_ id: String, _ index: Int) -> (body: String, outcome: String) {
        switch index % 10 {
        case 0: (#"{"orderId":"\#(id)","amount":20000}"#, "CANCELLED")
        case 1: (#"{"orderId":"\#(id)","amount":10,"items":[{"sku":"NOPE","quantity":1}]}"#, "CANCELLED")
        default: (#"{"orderId":"\#(id)","amount":\#(index).5,"items":[{"sku":"SKU-1","quantity":1}]}"#, "COMPLETED")
        }
    }

    /// Waits until every order is terminal with the expected status.
    static func awaitOutcomes(_ platform: Platform, _ expected: [String: String], timeout: Duration) async throws {
        let remaining = Locked(expected)
        try await waitUntil(timeout: timeout, "\(remaining.withLock { $0.count }) orders to finish") {
            let batch = remaining.withLock { Array($0.prefix(25)) }
            if batch.isEmpty { return true }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (id, status) in batch {
                    group.addTask {
                        guard let order = try await platform.order(id) else { return }
                        let current = order.status
                        if order.isTerminal {
                            guard current == status else {
                                throw PlatformError("\(id) is \(current), expected \(status)")
                            }
                            remaining.withLock { _ = $0.removeValue(forKey: id) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            return remaining.withLock { $0.isEmpty }
        }
    }

    /// Every order got exactly one notification on notifications.sent, and notification-service
    /// counted exactly as many.
    static func expectOneNotificationEach(_ platform: Platform, _ ids: Set<String>) async throws {
        let messages = try await platform.read(Topics.defaults.notificationsSent, timeout: .seconds(90)) { messages in
            ids.isSubset(of: Set(messages.compactMap(\.keyString)))
        }
        let perOrder = Dictionary(grouping: messages.compactMap(\.keyString).filter(ids.contains)) { $0 }.mapValues(
            \.count
        )
        #expect(perOrder.count == ids.count)
        let repeated = perOrder.filter { $0.value != 1 }
        #expect(repeated.isEmpty, "orders notified more than once: \(repeated.keys.sorted().prefix(10))")
        let metrics = try await platform.metrics("notification-service")
        let sent = metrics.split(separator: "\n").filter { $0.hasPrefix("notifications_sent_total{") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        #expect(Int(sent) == ids.count)
    }

    @Test("500 concurrent orders all reach a terminal state with exactly one notification each", .exclusiveLoad)
    func fiveHundred() async throws {
        let platform = try await Platform.start()
        let started = ContinuousClock.now
        let expected = try await Self.postOrders(platform, prefix: "load", count: 500)
        try await Self.awaitOutcomes(platform, expected, timeout: .seconds(180))
        let elapsed = ContinuousClock.now - started
        print("500 orders accepted and terminal in \(elapsed)")
        try await Self.expectOneNotificationEach(platform, Set(expected.keys))
        let statuses = try await platform.stop()
        #expect(statuses.values.allSatisfy { $0 == 0 }, "exit statuses after SIGTERM: \(statuses)")
    }

    @Test("the same with payment-service killed with SIGKILL mid-run and restarted", .exclusiveLoad)
    func fiveHundredWithCrash() async throws {
        let platform = try await Platform.start()
        let posting = Task { try await Self.postOrders(platform, prefix: "crash", count: 500) }
        // Kill once payment-service is demonstrably in the middle of the work.
        try await waitUntil(timeout: .seconds(60), "payment-service to process some orders") {
            let metrics = (try? await platform.metrics("payment-service")) ?? ""
            return metrics.split(separator: "\n").contains {
                $0.hasPrefix(#"events_processed_total{topic="orders.created",outcome="processed"}"#)
                    && (Double($0.split(separator: " ").last ?? "0") ?? 0) >= 50
            }
        }
        platform.killHard("payment-service")
        _ = try await platform.waitForExit("payment-service", timeout: .seconds(5))
        try await platform.launch("payment-service")
        let expected = try await posting.value
        try await platform.waitUntilReady("payment-service")
        try await Self.awaitOutcomes(platform, expected, timeout: .seconds(240))
        try await Self.expectOneNotificationEach(platform, Set(expected.keys))
        // The orders whose payment the crash interrupted were charged once: one payment decision each.
        let decided = try await platform.read(Topics.defaults.paymentsCompleted, timeout: .seconds(60)) { messages in
            Set(messages.compactMap(\.keyString)).count >= expected.values.filter { $0 == "COMPLETED" }.count
        }
        let eventIdsPerOrder = Dictionary(grouping: decided, by: { $0.keyString ?? "" })
            .mapValues { Set($0.compactMap { try? EventCodec.decode($0.value).eventId }).count }
        #expect(eventIdsPerOrder.values.allSatisfy { $0 == 1 }, "an order was charged twice")
        let statuses = try await platform.stop()
        #expect(statuses.values.allSatisfy { $0 == 0 }, "exit statuses after SIGTERM: \(statuses)")
    }
}
