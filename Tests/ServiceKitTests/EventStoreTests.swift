import Foundation
import GRDB
import Kafka
import OrderEvents
@testable import ServiceKit
import Testing

@Suite("Inbox and outbox on a real SQLite file")
struct EventStoreTests {
    @Test("the same event delivered twice changes nothing the second time")
    func duplicateDelivery() async throws {
        let directory = try TemporaryDirectory()
        let store = try EventStore(directory: directory.path, name: "svc", topics: .defaults)
        let handler = CountingHandler()
        let event = orderCreated("dup-1")
        let (first, published) = try await store.handle(event, topic: "orders.created", trace: nil) { db in
            try handler.handle(event, in: db).events
        }
        let (second, republished) = try await store.handle(event, topic: "orders.created", trace: nil) { db in
            try handler.handle(event, in: db).events
        }
        #expect(first == .processed)
        #expect(published.count == 1)
        #expect(second == .duplicate)
        #expect(republished.isEmpty)
        #expect(handler.totalApplied == 1)
        let unsent = try await store.unsent(limit: 10)
        #expect(unsent.count == 1)
        #expect(unsent[0].message.topic == "payments.completed")
        #expect(unsent[0].message.key == Array("dup-1".utf8))
    }

    @Test("a failing handler rolls back the inbox, the change and the outbox together")
    func rollback() async throws {
        let directory = try TemporaryDirectory()
        let store = try EventStore(directory: directory.path, name: "svc", topics: .defaults)
        let event = orderCreated("rollback-1")
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            _ = try await store.handle(event, topic: "orders.created", trace: nil) { db in
                try store.enqueue([event], trace: nil, in: db)
                throw Boom()
            }
        }
        #expect(try await store.unsent(limit: 10).isEmpty)
        // Not recorded in the inbox: a retry is processed, not skipped as a duplicate.
        let (outcome, _) = try await store.handle(event, topic: "orders.created", trace: nil) { _ in [] }
        #expect(outcome == .processed)
    }

    @Test("outbox rows carry the event type and a traceparent continuing the incoming trace")
    func outboxHeaders() async throws {
        let directory = try TemporaryDirectory()
        let store = try EventStore(directory: directory.path, name: "svc", topics: .defaults)
        let trace = TraceContext.root()
        let event = orderCreated("trace-1")
        _ = try await store.handle(event, topic: "orders.created", trace: trace) { db in
            try CountingHandler().handle(event, in: db).events
        }
        let record = try #require(try await store.unsent(limit: 1).first)
        let headers = Dictionary(uniqueKeysWithValues: record.message.headers.map { ($0.name, $0.stringValue ?? "") })
        #expect(headers[EventHeader.eventType] == "PaymentCompleted")
        let child = try #require(TraceContext(traceparent: headers[EventHeader.traceparent] ?? ""))
        #expect(child.traceId == trace.traceId)
        #expect(child.spanId != trace.spanId)
        #expect(try EventCodec.decode(record.message.value).type == .paymentCompleted)
    }
}
