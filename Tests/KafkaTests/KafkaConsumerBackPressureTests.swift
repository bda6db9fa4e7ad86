import Foundation
import Kafka
import Synchronization
import Testing

@Suite("Kafka consumer back-pressure: a full buffer pauses partitions, the member stays in its group")
struct KafkaConsumerBackPressureTests {
    /// librdkafka requires `max.poll.interval.ms` ≥ `session.timeout.ms`; Kafka allows any
    /// interval from 1 ms, and 3 s keeps the test short.
    static let maxPollInterval = Duration.seconds(3)

    /// A member of `group` with a short poll interval and a small buffer, recording each
    /// assignment it gets.
    private func member(
        _ cluster: EmbeddedKafkaCluster,
        group: String,
        client: String,
        bufferCapacity: Int,
        assignments: Assignments
    ) throws -> KafkaConsumer {
        var configuration = TestKafka.configuration(cluster, client: client)
        configuration.properties =
            EmbeddedKafkaCluster.lowLatencyProperties + [
                KafkaProperty(name: "session.timeout.ms", value: "3000", source: "test"),
                KafkaProperty(name: "heartbeat.interval.ms", value: "500", source: "test"),
                KafkaProperty(
                    name: "max.poll.interval.ms",
                    value: String(Self.maxPollInterval.components.seconds * 1000),
                    source: "test"
                ),
            ]
        return try KafkaConsumer(
            configuration: configuration,
            groupId: group,
            topics: ["stall"],
            bufferCapacity: bufferCapacity,
            logger: TestKafka.logger,
            onAssignment: { partitions in assignments.list.withLock { $0.append(partitions) } }
        )
    }

    @Test(
        "a handler stalled past max.poll.interval.ms with a full buffer: no rebalance, no partition moves, nothing lost or repeated"
    )
    func stalledHandlerKeepsMembership() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "stall", partitions: 2)])
        let producer = try KafkaProducer(configuration: TestKafka.configuration(cluster), logger: TestKafka.logger)
        let capacity = 8
        let assignedToA = Assignments()
        let assignedToB = Assignments()
        let a = try member(cluster, group: "g-stall", client: "a", bufferCapacity: capacity, assignments: assignedToA)
        let b = try member(cluster, group: "g-stall", client: "b", bufferCapacity: capacity, assignments: assignedToB)
        let seenByA = Mutex<[KafkaMessage]>([])
        let seenByB = Mutex<[KafkaMessage]>([])
        let stalled = Mutex(false)
        let total = 200

        let readA = Task {
            for await message in a.messages {
                if !stalled.withLock({ $0 }) {
                    stalled.withLock { $0 = true }
                    // The slow handler under test: it must outlast max.poll.interval.ms (twice
                    // over) while the buffer behind it fills up.
                    try? await Task.sleep(for: Self.maxPollInterval * 2)
                }
                seenByA.withLock { $0.append(message) }
                a.storeOffset(of: message)
            }
        }
        let readB = Task {
            for await message in b.messages {
                seenByB.withLock { $0.append(message) }
                b.storeOffset(of: message)
            }
        }
        let all: @Sendable () -> [KafkaMessage] = { seenByA.withLock { $0 } + seenByB.withLock { $0 } }

        // Everything is read before the members shut down: leaving the group rebalances it.
        let (partitionOfA, onA, rebalancesBefore, rebalancesAfter, byA, byB) = try await withRunningClients(
            producer,
            a,
            b
        ) {
            try await waitUntil(timeout: .seconds(60)) {
                assignedToA.list.withLock { $0.last?.count == 1 } && assignedToB.list.withLock { $0.last?.count == 1 }
            }
            let partitionOfA = try #require(assignedToA.list.withLock { $0.last?.first })
            let rebalances = { assignedToA.list.withLock { $0.count } + assignedToB.list.withLock { $0.count } }
            let rebalancesBefore = rebalances()
            var onA = 0
            for index in 0..<total {
                let report = try await producer.send(
                    topic: "stall",
                    key: Array("k\(index)".utf8),
                    value: Array("\(index)".utf8)
                )
                if report.partition == partitionOfA.partition { onA += 1 }
            }
            try await waitUntil(timeout: .seconds(60)) { Set(all().map(\.value)).count == total }
            return (partitionOfA, onA, rebalancesBefore, rebalances(), seenByA.withLock { $0 }, seenByB.withLock { $0 })
        }
        _ = await (readA.value, readB.value)

        // The stall happened with a full buffer behind it, for longer than the poll interval.
        #expect(stalled.withLock { $0 })
        #expect(onA > capacity * 2, "only \(onA) of \(total) messages went to A's partition")
        #expect(
            rebalancesAfter == rebalancesBefore,
            "assignments of A: \(assignedToA.list.withLock { $0 }), of B: \(assignedToB.list.withLock { $0 })"
        )
        #expect(byA.count == onA, "A handled \(byA.count) messages, its partition had \(onA)")
        #expect(byA.allSatisfy { $0.topicPartition == partitionOfA })
        #expect(!byB.contains { $0.topicPartition == partitionOfA }, "A's partition moved to B")
        let values = (byA + byB).map { String(decoding: $0.value, as: UTF8.self) }
        #expect(values.count == total, "\(values.count - Set(values).count) messages were delivered twice")
        #expect(Set(values) == Set((0..<total).map(String.init)))
        // In partition order, every offset once.
        #expect(byA.map(\.offset) == Array(Int64(0)..<Int64(onA)))
    }
}

/// The assignments one member got, in order.
final class Assignments: Sendable {
    let list = Mutex<[Set<TopicPartition>]>([])
}
