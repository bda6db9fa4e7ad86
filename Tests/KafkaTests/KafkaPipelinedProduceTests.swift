import Foundation
import Kafka
import Testing

@Suite("Pipelined produce: submit now, await delivery reports later")
struct KafkaPipelinedProduceTests {
    @Test("consecutive submits from one task keep their order per key; results come back per message")
    func submitKeepsOrder() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "pipelined", partitions: 3)])
        let producer = try KafkaProducer(configuration: TestKafka.configuration(cluster), logger: TestKafka.logger)
        let keys = (0..<5).map { "key-\($0)" }
        let reports = try await withRunningClients(producer) {
            // Ten handles outstanding at once, none awaited before the last submit.
            let handles = (0..<10).map { round in
                producer.submit(
                    (0..<20).map { index in
                        OutgoingMessage(
                            topic: "pipelined",
                            key: Array(keys[index % keys.count].utf8),
                            value: Array("\(round)-\(index)".utf8)
                        )
                    }
                )
            }
            #expect(handles.allSatisfy { $0.accepted == 20 && $0.rejection == nil })
            var reports: [String: [DeliveryReport]] = [:]
            for (round, handle) in handles.enumerated() {
                let results = await handle.results()
                #expect(results.count == 20)
                for (index, result) in results.enumerated() {
                    reports[keys[index % keys.count], default: []].append(try result.get())
                }
                // A second wait returns the same results at once.
                #expect(await handle.results().count == 20, "round \(round)")
            }
            return reports
        }
        for (key, keyReports) in reports {
            // One key, one partition, offsets growing in submit order.
            #expect(Set(keyReports.map(\.partition)).count == 1, "\(key)")
            #expect(keyReports.map(\.offset) == keyReports.map(\.offset).sorted(), "\(key)")
        }
    }

    @Test("nextResults hands every result out exactly once, then returns empty")
    func progressiveResults() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "progress", partitions: 2)])
        let producer = try KafkaProducer(configuration: TestKafka.configuration(cluster), logger: TestKafka.logger)
        let seen = try await withRunningClients(producer) {
            let handle = producer.submit(
                (0..<50).map { OutgoingMessage(topic: "progress", key: Array("k\($0 % 3)".utf8), value: [1]) }
            )
            var seen: [Int] = []
            while true {
                let settled = await handle.nextResults()
                if settled.isEmpty { break }
                #expect(settled.map(\.index) == settled.map(\.index).sorted())
                #expect(settled.allSatisfy { (try? $0.result.get()) != nil })
                seen += settled.map(\.index)
            }
            return seen
        }
        #expect(seen.sorted() == Array(0..<50))
    }

    @Test("a message that cannot be enqueued fails with every later one of its call; earlier ones are delivered")
    func rejectedSuffix() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "reject", partitions: 1)])
        var configuration = TestKafka.configuration(cluster)
        configuration.properties = [KafkaProperty(name: "message.max.bytes", value: "4096", source: "test")]
        let producer = try KafkaProducer(configuration: configuration, logger: TestKafka.logger)
        try await withRunningClients(producer) {
            let small = OutgoingMessage(topic: "reject", key: nil, value: [1])
            let large = OutgoingMessage(topic: "reject", key: nil, value: Array(repeating: 0x61, count: 10_000))
            let handle = producer.submit([small, large, small])
            #expect(handle.accepted == 1)
            #expect(handle.rejection?.isTransient == false)
            let results = await handle.results()
            #expect((try? results[0].get()) != nil)
            #expect(results[1].failureValue == handle.rejection)
            #expect(results[2].failureValue == .skipped)
            // The same through send(_:).
            let sent = await producer.send([small, large, small])
            #expect((try? sent[0].get()) != nil)
            #expect(sent[2].failureValue == .skipped)
            await producer.shutdown()
            let afterShutdown = producer.submit([small])
            #expect(afterShutdown.accepted == 0)
            #expect(await afterShutdown.results()[0].failureValue == .shutDown)
        }
    }
}

extension Result {
    fileprivate var failureValue: Failure? {
        if case .failure(let error) = self { error } else { nil }
    }
}
