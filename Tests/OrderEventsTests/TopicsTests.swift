import Testing
@testable import OrderEvents

@Suite("Topics")
struct TopicsTests {
    @Test("defaults keep the original demo's names")
    func originalNames() {
        #expect(Topics.defaults.ordersCreated == "orders.created")
        #expect(Topics.defaults.paymentsCompleted == "payments.completed")
        #expect(Topics.defaults.inventoryReserved == "inventory.reserved")
    }

    @Test("defaults name the newer topics")
    func newerNames() {
        #expect(Topics.defaults.paymentsFailed == "payments.failed")
        #expect(Topics.defaults.paymentsRefunded == "payments.refunded")
        #expect(Topics.defaults.inventoryRejected == "inventory.rejected")
        #expect(Topics.defaults.notificationsSent == "notifications.sent")
    }

    @Test(
        "topic(for:) maps every event type",
        arguments: [
            (EventType.orderCreated, "orders.created"),
            (.paymentCompleted, "payments.completed"),
            (.paymentFailed, "payments.failed"),
            (.paymentRefunded, "payments.refunded"),
            (.inventoryReserved, "inventory.reserved"),
            (.inventoryRejected, "inventory.rejected"),
            (.notificationSent, "notifications.sent"),
        ]
    )
    func topicForType(type: EventType, topic: String) {
        #expect(Topics.defaults.topic(for: type) == topic)
    }

    @Test("topic(for:) uses overridden names")
    func overrides() {
        let topics = Topics(
            ordersCreated: "a",
            paymentsCompleted: "b",
            paymentsFailed: "c",
            paymentsRefunded: "d",
            inventoryReserved: "e",
            inventoryRejected: "f",
            notificationsSent: "g"
        )
        #expect(EventType.allCases.map { topics.topic(for: $0) } == ["a", "b", "c", "d", "e", "f", "g"])
        #expect(topics.all == ["a", "b", "c", "d", "e", "f", "g"])
        #expect(topics != Topics.defaults)

        var renamed = Topics.defaults
        renamed.paymentsFailed = "acme.payments.failed"
        #expect(renamed.topic(for: .paymentFailed) == "acme.payments.failed")
        #expect(renamed.topic(for: .paymentCompleted) == "payments.completed")
    }

    @Test("every event type has its own topic")
    func distinctTopics() {
        let all = Topics.defaults.all
        #expect(all.count == EventType.allCases.count)
        #expect(Set(all).count == all.count)
        #expect(
            all == [
                "orders.created", "payments.completed", "payments.failed", "payments.refunded",
                "inventory.reserved", "inventory.rejected", "notifications.sent",
            ]
        )
    }

    @Test("deadLetter(of:) appends .dlq", arguments: ["orders.created", "payments.completed", "x", ""])
    func deadLetter(topic: String) {
        #expect(Topics.deadLetter(of: topic) == topic + ".dlq")
    }

    @Test("dead-letter names of the defaults")
    func deadLetterDefaults() {
        #expect(Topics.deadLetter(of: "orders.created") == "orders.created.dlq")
        #expect(Topics.deadLetter(of: Topics.defaults.inventoryRejected) == "inventory.rejected.dlq")
    }

    @Test("allWithDeadLetters lists every topic and then every dead-letter topic")
    func allWithDeadLetters() {
        let topics = Topics.defaults
        let list = topics.allWithDeadLetters
        #expect(list.count == 14)
        #expect(Array(list.prefix(7)) == topics.all)
        #expect(Array(list.suffix(7)) == topics.all.map { $0 + ".dlq" })
        #expect(Set(list).count == 14)
    }
}
