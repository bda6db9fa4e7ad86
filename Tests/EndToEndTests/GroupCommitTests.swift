import Foundation
import Kafka
import OrderEvents
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("End to end: concurrent POSTs share a commit, each with its own answer", .serialized)
struct GroupCommitTests {
    @Test(
        "60 concurrent POSTs, one invalid and two identical, each answered correctly; after kill -9 right after the 202s every accepted order is stored and reaches Kafka"
    )
    func concurrentPostsThenKill() async throws {
        let platform = try await Platform.start()
        var bodies: [(label: String, body: String)] = (0..<57).map { index in
            (
                "ok-\(index)",
                #"{"orderId":"gc-\#(index)","amount":\#(index + 1),"items":[{"sku":"SKU-1","quantity":1}]}"#
            )
        }
        bodies.append(("invalid", #"{"orderId":"gc-invalid","amount":-5}"#))
        bodies.append(("twin-a", #"{"orderId":"gc-twin","amount":7}"#))
        bodies.append(("twin-b", #"{"orderId":"gc-twin","amount":7}"#))

        let replies = try await withThrowingTaskGroup(of: (String, Platform.Reply).self) { group in
            for (label, body) in bodies {
                group.addTask { (label, try await platform.post(body)) }
            }
            var replies: [String: Platform.Reply] = [:]
            for try await (label, reply) in group { replies[label] = reply }
            return replies
        }
        // Right after the last answer, before the relay can be relied on to have published.
        platform.killHard("order-service")
        _ = try await platform.waitForExit("order-service", timeout: .seconds(5))

        for index in 0..<57 {
            let reply = try #require(replies["ok-\(index)"])
            #expect(reply.status == 202, "ok-\(index): \(reply.status) \(reply.body)")
            #expect(try reply.json()["orderId"] as? String == "gc-\(index)")
        }
        let invalid = try #require(replies["invalid"])
        #expect(invalid.status == 400)
        #expect(
            invalid.body.contains(#""code":"invalid_field""#) && invalid.body.contains(#""field":"amount""#),
            "\(invalid.body)"
        )
        // The same body twice at once: one stored it (202), the other was answered with it (200).
        let twins = [try #require(replies["twin-a"]), try #require(replies["twin-b"])].map(\.status).sorted()
        #expect(twins == [200, 202])

        try await platform.launch("order-service")
        try await platform.waitUntilReady("order-service")
        let accepted = Set((0..<57).map { "gc-\($0)" } + ["gc-twin"])
        for id in accepted.sorted() {
            #expect(try await platform.order(id) != nil, "\(id) was answered 202 but is not stored")
        }
        #expect(try await platform.order("gc-invalid") == nil)
        let created = try await platform.read(Topics.defaults.ordersCreated, timeout: .seconds(60)) { messages in
            accepted.isSubset(of: Set(messages.compactMap(\.keyString)))
        }
        let perOrder = Dictionary(grouping: created.filter { accepted.contains($0.keyString ?? "") }) {
            $0.keyString ?? ""
        }
        #expect(Set(perOrder.keys) == accepted)
        // A row published but not yet marked before the kill may go out again; it is the same event.
        let distinctEvents = perOrder.mapValues { messages in
            Set(messages.compactMap { try? EventCodec.decode($0.value).eventId }).count
        }
        #expect(
            distinctEvents.values.allSatisfy { $0 == 1 },
            "an order was created twice: \(distinctEvents.filter { $0.value != 1 })"
        )
        for id in accepted.sorted() {
            let order = try await platform.terminalOrder(id, timeout: .seconds(60))
            #expect(order.status == "COMPLETED", "\(id) ended \(order.status)")
        }
        let statuses = try await platform.stop()
        #expect(statuses.values.allSatisfy { $0 == 0 }, "exit statuses after SIGTERM: \(statuses)")
    }
}
