import Foundation

/// The hand-over between a consumer's poll thread and the task iterating its messages.
///
/// - The poll thread blocks (on a condition, off the cooperative pool) while `capacity`
///   messages wait, which bounds memory and leaves the rest in librdkafka / the broker.
/// - It tracks messages handed out and not yet acknowledged per partition, so a revocation
///   can wait for them and commit their offsets before the partition moves to another member.
///
/// - The task side takes everything already buffered at once (up to a bound), so a consumer can
///   handle a burst in one transaction instead of one per message.
///
/// `@unchecked Sendable`: every stored property is read and written only while `condition`
/// is locked.
final class MessageBuffer: @unchecked Sendable {
    /// A task suspended in ``next(maximum:)`` until a message arrives.
    private struct Waiter {
        var continuation: CheckedContinuation<[KafkaMessage], Never>
    }

    private let condition = NSCondition()
    private let capacity: Int
    private var queue: [KafkaMessage] = []
    private var head = 0
    private var waiter: Waiter?
    private var finished = false
    private var unacknowledged: [TopicPartition: Int] = [:]

    init(capacity: Int) {
        self.capacity = capacity
    }

    // MARK: poll thread side

    /// Blocks until there is room or `timeout` passes; false when the buffer is still full.
    func waitForRoom(timeout: TimeInterval) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if queue.count - head < capacity || finished { return true }
        _ = condition.wait(until: Date(timeIntervalSinceNow: timeout))
        return queue.count - head < capacity || finished
    }

    func push(_ message: KafkaMessage) {
        condition.lock()
        guard !finished else {
            condition.unlock()
            return
        }
        if let waiter {
            self.waiter = nil
            unacknowledged[message.topicPartition, default: 0] += 1
            condition.unlock()
            waiter.continuation.resume(returning: [message])
            return
        }
        queue.append(message)
        condition.unlock()
    }

    /// Drops queued messages of revoked partitions (their offsets were never stored, so the
    /// next owner gets them again), then waits up to `timeout` for handed-out ones to be
    /// acknowledged. Returns the partitions still unacknowledged when time ran out.
    func revoke(_ partitions: Set<TopicPartition>, timeout: TimeInterval) -> [TopicPartition] {
        condition.lock()
        defer { condition.unlock() }
        let pending = Array(queue[head...]).filter { !partitions.contains($0.topicPartition) }
        queue = pending
        head = 0
        condition.broadcast()
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !finished, partitions.contains(where: { (unacknowledged[$0] ?? 0) > 0 }) {
            if !condition.wait(until: deadline) { break }
        }
        return partitions.filter { (unacknowledged[$0] ?? 0) > 0 }
    }

    /// No more messages will be handed out; a waiting `next(maximum:)` returns an empty batch.
    func finish() {
        condition.lock()
        finished = true
        queue.removeAll()
        head = 0
        let waiter = self.waiter
        self.waiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.continuation.resume(returning: [])
    }

    // MARK: consumer task side

    /// Every buffered message up to `maximum`, in arrival order (so in partition order); waits
    /// while none is buffered. Empty once finished, or when the waiting task is cancelled.
    /// Each returned message counts as handed out until ``acknowledge(_:count:)``.
    func next(maximum: Int) async -> [KafkaMessage] {
        precondition(maximum > 0, "a batch holds at least one message")
        return await withTaskCancellationHandler {
            await nextMessages(maximum: maximum)
        } onCancel: {
            cancelWaiter()
        }
    }

    private func cancelWaiter() {
        condition.lock()
        let waiter = self.waiter
        self.waiter = nil
        condition.unlock()
        waiter?.continuation.resume(returning: [])
    }

    private func nextMessages(maximum: Int) async -> [KafkaMessage] {
        await withCheckedContinuation { continuation in
            condition.lock()
            if head < queue.count {
                let end = min(queue.count, head + maximum)
                let batch = Array(queue[head..<end])
                head = end
                if head == queue.count {
                    queue.removeAll(keepingCapacity: true)
                    head = 0
                } else if head > 1024, head * 2 > queue.count {
                    queue.removeFirst(head)
                    head = 0
                }
                for message in batch {
                    unacknowledged[message.topicPartition, default: 0] += 1
                }
                condition.broadcast()
                condition.unlock()
                continuation.resume(returning: batch)
            } else if finished || Task.isCancelled {
                condition.unlock()
                continuation.resume(returning: [])
            } else {
                precondition(waiter == nil, "a KafkaConsumer's messages can be iterated by one task only")
                waiter = Waiter(continuation: continuation)
                condition.unlock()
            }
        }
    }

    /// Marks `count` handed-out messages of `partition` as done (their offsets are stored).
    func acknowledge(_ partition: TopicPartition, count: Int = 1) {
        condition.lock()
        if let outstanding = unacknowledged[partition] {
            unacknowledged[partition] = outstanding > count ? outstanding - count : nil
        }
        condition.broadcast()
        condition.unlock()
    }
}
