import Foundation

/// The hand-over between a consumer's poll thread and the task iterating its messages.
///
/// - Back-pressure: when `capacity` messages wait, its ``ConsumerStateMachine/FlowControl``
///   tells the poll thread to pause the assigned partitions, which leaves the rest in the
///   broker while the thread keeps polling (the member stays in its group); once the application
///   has drained the buffer to the low-water mark, the thread resumes them. Messages fetched
///   before the pause are still buffered: the capacity is a soft cap, never a reason to drop.
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
    private var flow: ConsumerStateMachine.FlowControl
    private var queue: [KafkaMessage] = []
    private var head = 0
    private var waiter: Waiter?
    private var finished = false
    private var unacknowledged: [TopicPartition: Int] = [:]

    init(capacity: Int) {
        flow = ConsumerStateMachine.FlowControl(capacity: capacity)
    }

    // MARK: poll thread side

    /// While paused: waits up to `timeout` for the application to drain the buffer to the
    /// low-water mark; returns the resume to perform once it has (`.none` meanwhile, or once the
    /// buffer is finished).
    func waitForDrain(timeout: TimeInterval) -> ConsumerStateMachine.FlowControl.Action {
        condition.lock()
        defer { condition.unlock() }
        // Finished, it still waits: the poll thread goes on polling (paused) until it is stopped.
        if !finished {
            let action = flow.drained(to: queue.count - head)
            guard action == .none else { return action }
        }
        _ = condition.wait(until: Date(timeIntervalSinceNow: timeout))
        return finished ? .none : flow.drained(to: queue.count - head)
    }

    /// librdkafka assigned `partitions`; returns those to pause right away (the buffer is full).
    func assigned(_ partitions: Set<TopicPartition>) -> Set<TopicPartition> {
        condition.lock()
        defer { condition.unlock() }
        guard case .pause(let paused) = flow.assigned(partitions) else { return [] }
        return paused
    }

    /// Buffers `message`, above the capacity too (it was fetched before a pause took effect);
    /// returns the pause to perform when it filled the buffer. After ``finish()`` it is dropped.
    func push(_ message: KafkaMessage) -> ConsumerStateMachine.FlowControl.Action {
        condition.lock()
        guard !finished else {
            condition.unlock()
            return .none
        }
        if let waiter {
            self.waiter = nil
            unacknowledged[message.topicPartition, default: 0] += 1
            condition.unlock()
            waiter.continuation.resume(returning: [message])
            return .none
        }
        queue.append(message)
        let action = flow.buffered(queue.count - head)
        condition.unlock()
        return action
    }

    /// Drops queued messages of revoked partitions (their offsets were never stored, so the
    /// next owner gets them again), forgets their pause, then waits up to `timeout` for
    /// handed-out ones to be acknowledged. Returns the partitions still unacknowledged when time
    /// ran out.
    func revoke(_ partitions: Set<TopicPartition>, timeout: TimeInterval) -> [TopicPartition] {
        condition.lock()
        defer { condition.unlock() }
        flow.revoked(partitions)
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
