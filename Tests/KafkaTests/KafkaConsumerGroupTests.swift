import Foundation
import Kafka
import Synchronization
import Testing

@Suite("Kafka consumer groups: restart and rebalance")
struct KafkaConsumerGroupTests {
    private func produce(_ count: Range<Int>, to topic: String, _ producer: KafkaProducer) async throws {
        for index in count {
            _ = try await producer.send(topic: topic, key: Array("k\(index % 5)".utf8), value: Array("\(index)".utf8))
        }
    }

    private func ids(_ messages: [KafkaMessage]) -> [Int] {
        messages.map { Int(String(decoding: $0.value, as: UTF8.self))! }
    }

    @Test("a restarted consumer resumes after the last processed offset: nothing skipped, nothing repeated")
    func resumeAfterRestart() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "resume", partitions: 2)])
        let producer = try KafkaProducer(configuration: TestKafka.configuration(cluster), logger: TestKafka.logger)
        try await withRunningClients(producer) { try await produce(0..<40, to: "resume", producer) }

        // The first consumer processes (and acknowledges) 15 messages, then receives more that
        // it never acknowledges, as if it crashed mid-handling, and shuts down.
        let first = try TestKafka.consumer(cluster, group: "g-resume", topics: ["resume"])
        let processed = Mutex(0)
        let seenFirst = try await withRunningClients(first) {
            try await collect(
                from: first,
                acknowledge: { _ in
                    processed.withLock { count in
                        count += 1
                        return count <= 15
                    }
                },
                until: { $0.count == 20 }
            )
        }
        let acknowledged = Array(seenFirst.prefix(15))

        let second = try TestKafka.consumer(cluster, group: "g-resume", topics: ["resume"])
        let seenSecond = try await withRunningClients(second) {
            try await collect(from: second) { $0.count == 40 - 15 }
        }

        // Per partition, the second consumer starts exactly after the last acknowledged offset.
        for partition in Int32(0)..<2 {
            let lastAcked = acknowledged.filter { $0.partition == partition }.map(\.offset).max() ?? -1
            let firstAfter = seenSecond.filter { $0.partition == partition }.map(\.offset).min()
            if let firstAfter { #expect(firstAfter == lastAcked + 1) }
        }
        #expect(Set(ids(acknowledged)).isDisjoint(with: Set(ids(seenSecond))))
        #expect(Set(ids(acknowledged) + ids(seenSecond)) == Set(0..<40))
        #expect(ids(seenSecond).count == 25)
    }

    /// Duplicates across a rebalance are possible when the coordinator refuses the revocation
    /// commit (the embedded broker refuses commits while the group is joining); the inbox makes
    /// them harmless, which ServiceKitTests prove. Here: nothing may be lost.
    @Test("two consumers rebalancing in one group lose nothing")
    func rebalance() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "rebalance", partitions: 4)])
        let producer = try KafkaProducer(configuration: TestKafka.configuration(cluster), logger: TestKafka.logger)
        let total = 400
        let a = try TestKafka.consumer(cluster, group: "g-rebalance", topics: ["rebalance"])
        let b = try TestKafka.consumer(cluster, group: "g-rebalance", topics: ["rebalance"])
        let processedByA = Mutex<[Int]>([])
        let processedByB = Mutex<[Int]>([])
        let all: @Sendable () -> [Int] = { processedByA.withLock { $0 } + processedByB.withLock { $0 } }
        // Both read from the start; neither gets anything before its run().
        let runA = Task {
            for await message in a.messages {
                processedByA.withLock { $0.append(Int(String(decoding: message.value, as: UTF8.self))!) }
                a.storeOffset(of: message)
            }
        }
        let runB = Task {
            for await message in b.messages {
                processedByB.withLock { $0.append(Int(String(decoding: message.value, as: UTF8.self))!) }
                b.storeOffset(of: message)
            }
        }
        try await withRunningClients(producer, a) {
            try await produce(0..<100, to: "rebalance", producer)
            try await waitUntil { processedByA.withLock { $0.count } >= 50 }
            // B joins while A is busy and more records arrive: the group rebalances under load.
            try await withRunningClients(b) {
                try await produce(100..<total, to: "rebalance", producer)
                try await waitUntil(timeout: .seconds(60)) {
                    Set(all()).count == total && !processedByB.withLock { $0.isEmpty }
                }
            }
        }
        _ = await (runA.value, runB.value)
        let processed = all()
        #expect(Set(processed) == Set(0..<total))
        #expect(!processedByB.withLock { $0.isEmpty }, "B never received partitions")
    }
}

/// Polls `condition` until it holds, failing after `timeout`.
func waitUntil(timeout: Duration = .seconds(30), _ condition: @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(description: "condition not met within \(timeout)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}
