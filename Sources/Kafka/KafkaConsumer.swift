import Foundation
import Logging
import ServiceLifecycle

/// A member of a balanced consumer group.
///
/// - Delivery: ``messages`` yields records in partition order. Offsets are never stored
///   automatically: call ``storeOffset(of:)`` after the message's effects are committed; stored
///   offsets are committed in the background (`enable.auto.commit`), on revocation and on
///   shutdown. A crash therefore re-delivers at most the messages whose effects were not yet
///   acknowledged — at-least-once, which the inbox turns into effectively-once.
/// - Rebalances: on revocation, buffered messages of the revoked partitions are dropped (their
///   offsets were never stored) and the consumer waits for the handed-out ones to be
///   acknowledged, then commits synchronously, so the next owner starts exactly after them.
/// - Back-pressure: when the application falls `bufferCapacity` messages behind, the assigned
///   partitions are paused (the broker keeps the rest) while the poll thread goes on polling, so
///   a slow handler never exceeds `max.poll.interval.ms` and rebalances are served; they are
///   resumed once the buffer has drained to half. Messages fetched before the pause are still
///   delivered: none is dropped or delivered twice.
/// - Membership: `onAssignment` says the member joined its group (again); `onMembershipLost`
///   says it lost it (session timed out against an unreachable coordinator, fenced, poll
///   interval exceeded, fatal error). librdkafka rejoins by itself except after a fatal error.
/// - Threads: librdkafka's consumer poll runs on a dedicated thread, never on the cooperative pool.
///   A consumer released without ``run()`` or ``shutdown(timeout:)`` closes on a short-lived
///   thread that exits when done.
/// - Batches: ``batches(maximum:)`` hands out everything already buffered at once, so the
///   caller can handle a burst in one database transaction; ``storeOffsets(of:)`` then
///   acknowledges the whole batch with one call.
/// - Thread-safety: every method may be called from any task; ``messages`` or
///   ``batches(maximum:)`` may be iterated by one task at a time.
/// - Service: the consumer is inert until ``run()``, which subscribes (joins the group) and
///   starts the poll thread; before it, ``messages`` and ``batches(maximum:)`` yield nothing.
///   `run()` returns once the consumer is closed (by the graceful shutdown of the surrounding
///   `ServiceGroup`, by ``shutdown(timeout:)``, or by cancellation). Place it so that it shuts
///   down after the code handling its messages (a `ServiceGroup` shuts down in reverse order),
///   or run it with ``runUntilShutdown()`` (``withRunningClients(_:isolation:body:)``) and shut
///   it down from that code.
public final class KafkaConsumer: KafkaClientService, Sendable {
    /// Internal, not private, so tests can watch it being released with the poll thread.
    let client: RDKafkaClient
    private let buffer: MessageBuffer
    private let logger: Logger
    private let shutdownTimeout: Duration
    private let topics: [String]
    private let membershipLost: @Sendable (String) -> Void
    private let lifecycle = ClientLifecycle(ConsumerStateMachine())

    /// Consumer defaults. Anything in `configuration.properties` overrides them.
    public static func defaults(groupId: String) -> [KafkaProperty] {
        [
            KafkaProperty(name: "group.id", value: groupId, source: "group id"),
            KafkaProperty(name: "enable.auto.offset.store", value: "false", source: "default"),
            KafkaProperty(name: "enable.auto.commit", value: "true", source: "default"),
            KafkaProperty(name: "auto.commit.interval.ms", value: "1000", source: "default"),
            KafkaProperty(name: "auto.offset.reset", value: "earliest", source: "default"),
            KafkaProperty(name: "session.timeout.ms", value: "6000", source: "default"),
            KafkaProperty(name: "heartbeat.interval.ms", value: "2000", source: "default"),
            KafkaProperty(name: "partition.assignment.strategy", value: "range,roundrobin", source: "default"),
        ]
    }

    /// How long a revocation waits for handed-out messages before giving their partitions up.
    public static let revocationGrace: TimeInterval = 30

    /// Creates the consumer of `topics` as a member of `groupId`; it subscribes in ``run()``.
    /// Connects lazily: no broker needs to be reachable yet.
    /// - Parameter bufferCapacity: how many fetched messages may wait for the application
    ///   before the assigned partitions are paused (a soft cap: what was already fetched is
    ///   still buffered); they are resumed at half of it.
    /// - Parameter onAssignment: called on the poll thread after each assignment (possibly
    ///   empty, in a group with more members than partitions): the consumer has joined its group.
    /// - Parameter onMembershipLost: called on the poll thread when the member lost its group,
    ///   with the reason; `onAssignment` follows once it has rejoined.
    /// - Parameter shutdownTimeout: how long the graceful shutdown of ``run()`` waits for the close.
    /// - Throws: ``KafkaError/invalidProperty(property:source:reason:)`` or
    ///   ``KafkaError/clientCreation(reason:)``.
    public init(
        configuration: KafkaClientConfiguration,
        groupId: String,
        topics: [String],
        bufferCapacity: Int = 1024,
        logger: Logger,
        shutdownTimeout: Duration = .seconds(10),
        onAssignment: (@Sendable (Set<TopicPartition>) -> Void)? = nil,
        onMembershipLost: (@Sendable (_ reason: String) -> Void)? = nil
    ) throws(KafkaError) {
        let buffer = MessageBuffer(capacity: bufferCapacity)
        let membershipLost: @Sendable (String) -> Void = { reason in
            logger.warning("consumer \(reason)")
            onMembershipLost?(reason)
        }
        let context = ClientContext(
            logger: logger,
            statistics: KafkaStatisticsRecorder(client: configuration.clientId + "-consumer"),
            rebalance: RebalanceHandler(
                assigned: { partitions in
                    defer { onAssignment?(partitions) }
                    return buffer.assigned(partitions)
                },
                revoking: { partitions in
                    let stuck = buffer.revoke(partitions, timeout: Self.revocationGrace)
                    if !stuck.isEmpty {
                        logger.warning(
                            "revoking partitions with unacknowledged messages: \(stuck); they will be re-delivered"
                        )
                    }
                },
                membershipLost: membershipLost
            )
        )
        self.client = try RDKafkaClient(
            kind: .consumer,
            configuration: configuration,
            defaults: Self.defaults(groupId: groupId),
            context: context
        )
        self.buffer = buffer
        self.logger = logger
        self.shutdownTimeout = shutdownTimeout
        self.topics = topics
        self.membershipLost = membershipLost
        client.redirectMainQueueToConsumer()
    }

    deinit {
        // The poll thread holds the client and the lifecycle, never the consumer.
        perform(lifecycle.machine.withLock { $0.shutdown() })
    }

    /// The poll loop: subscribes, starts the poll thread, and returns once the consumer is
    /// closed — offsets committed, group left — or once a shutdown gave up waiting for that
    /// close. The graceful shutdown of the surrounding `ServiceGroup` shuts it down (with the
    /// `shutdownTimeout` of `init`); cancellation stops the poll thread without waiting for the
    /// close; an explicit ``shutdown(timeout:)`` ends it too.
    ///
    /// - Precondition: not called while it runs (the poll loop runs once; a second call traps).
    ///   On a consumer shut down before `run()`, it returns once that shutdown finished.
    /// - Throws: ``KafkaError/consumer(reason:)`` when librdkafka refuses the subscription;
    ///   the consumer is then closed.
    public func run() async throws(KafkaError) {
        try await runPollLoop(endingOnGracefulShutdown: true)
    }

    /// ``run()``, except that the graceful shutdown of a surrounding `ServiceGroup` does not
    /// end it: only a shutdown of the consumer, or cancellation, does.
    public func runUntilShutdown() async throws(KafkaError) {
        try await runPollLoop(endingOnGracefulShutdown: false)
    }

    /// ``shutdown(timeout:)`` with the `shutdownTimeout` of `init`, as the graceful shutdown of
    /// ``run()`` does.
    public func shutdownGracefully() async {
        await shutdown(timeout: shutdownTimeout)
    }

    private func runPollLoop(endingOnGracefulShutdown: Bool) async throws(KafkaError) {
        switch lifecycle.machine.withLock({ $0.run() }) {
        case .subscribeAndStartPollThread:
            break
        case .waitForRunEnd:
            await lifecycle.waitForRunEnd()
            return
        }
        do {
            try client.subscribe(to: topics)
        } catch {
            // Never joined: the poll thread, stopped before it starts, only closes the client.
            perform(lifecycle.machine.withLock { $0.shutdown() })
            startPollThread()
            await lifecycle.waitForRunEnd()
            throw error
        }
        startPollThread()
        await awaitShutdown(
            endingOnGracefulShutdown: endingOnGracefulShutdown,
            budget: shutdownTimeout,
            shutdown: { await self.shutdown(timeout: $0) },
            ended: { await lifecycle.waitForRunEnd() }
        )
    }

    /// The consumed messages, in partition order. Yields nothing before ``run()``; ends after
    /// ``shutdown(timeout:)``.
    public var messages: Messages { Messages(buffer: buffer) }

    /// The consumed messages in batches of at most `maximum`: each batch is everything buffered
    /// when it is taken (at least one message), in partition order. Yields nothing before
    /// ``run()``; ends after ``shutdown(timeout:)``.
    public func batches(maximum: Int) -> Batches { Batches(buffer: buffer, maximum: maximum) }

    /// Marks `message` processed: its offset + 1 is committed with the next commit.
    /// Non-blocking and thread-safe. Storing for a partition no longer assigned is ignored
    /// (the next owner re-delivers it; the inbox absorbs the repeat).
    public func storeOffset(of message: KafkaMessage) {
        storeOffsets(of: [message])
    }

    /// Marks every message of `messages` processed with one call: for each partition, the
    /// highest offset + 1 is committed with the next commit. Call it only once the effects of
    /// all of them are committed. Non-blocking and thread-safe.
    public func storeOffsets(of messages: [KafkaMessage]) {
        guard !messages.isEmpty else { return }
        var next: [TopicPartition: Int64] = [:]
        var handedOut: [TopicPartition: Int] = [:]
        for message in messages {
            next[message.topicPartition] = max(next[message.topicPartition] ?? 0, message.offset + 1)
            handedOut[message.topicPartition, default: 0] += 1
        }
        defer {
            for (partition, count) in handedOut { buffer.acknowledge(partition, count: count) }
        }
        if let error = client.storeOffsets(next) {
            logger.debug("offsets not stored for \(next.keys.map(\.description).sorted()): \(error)")
        }
    }

    /// Ends the iteration of ``messages`` without closing: a message being handled can still
    /// store its offset. Call ``shutdown()`` afterwards.
    public func stopDelivering() {
        buffer.finish()
    }

    /// Stops delivering messages (the iteration ends), commits stored offsets, leaves the group
    /// and closes the client. Returns once closed, or after `timeout` when the close is stuck
    /// (an unreachable coordinator); the group then expires the member after its session
    /// timeout. ``run()`` returns once this is done. Idempotent; completes on a consumer that
    /// never ran too (it closes without having joined). Once one call has given up on a stuck
    /// close, later calls return false at once instead of waiting for it again.
    /// - Returns: false when the close did not finish in time.
    @discardableResult
    public func shutdown(timeout: Duration = .seconds(10)) async -> Bool {
        perform(lifecycle.machine.withLock { $0.shutdown() })
        let gaveUpBefore = lifecycle.machine.withLock { $0.closeGaveUp }
        let closed = await lifecycle.waitForClose(timeout: timeout)
        if !closed, !gaveUpBefore {
            logger.warning(
                "consumer close did not finish within \(timeout); the group expires this member after its session timeout"
            )
        }
        return closed
    }

    /// Performs a state machine's ``ConsumerStateMachine/StopAction``.
    private func perform(_ action: ConsumerStateMachine.StopAction) {
        switch action {
        case .stopPollThread:
            buffer.finish()
            lifecycle.stopPollThread()
        case .startStoppedPollThread:
            buffer.finish()
            lifecycle.stopPollThread()
            startPollThread()
        case .none:
            break
        }
    }

    private func startPollThread() {
        PollThread.start(name: "kafka-consumer-poll") { [client, buffer, lifecycle, logger, membershipLost] in
            Self.pollLoop(
                client: client,
                buffer: buffer,
                lifecycle: lifecycle,
                logger: logger,
                membershipLost: membershipLost
            )
        }
    }

    /// True when a broker answered a metadata request within `timeout`, whether or not ``run()``
    /// polls. Runs on the module's shared blocking pool, never on the cooperative pool.
    public func brokerAnswers(timeout: Duration = .seconds(2)) async -> Bool {
        await BlockingPool.run { [client] in client.brokerAnswersBlocking(timeout: timeout) }
    }

    private static func pollLoop(
        client: RDKafkaClient,
        buffer: MessageBuffer,
        lifecycle: ClientLifecycle<ConsumerStateMachine>,
        logger: Logger,
        membershipLost: @Sendable (String) -> Void
    ) {
        var paused = false
        while lifecycle.isPolling {
            // Paused, the loop polls without waiting (rebalances, heartbeats, messages fetched
            // before the pause) and waits on the buffer instead, so a drain resumes at once.
            switch client.consumerPoll(milliseconds: paused ? 0 : 100) {
            case .message(let message):
                paused = perform(buffer.push(message), paused: paused, client: client, logger: logger)
            case .membershipLost(let reason):
                membershipLost(reason)
            case .error(let error):
                logger.warning("consumer error: \(error)")
            case .nothing:
                guard paused else { continue }
                paused = perform(buffer.waitForDrain(timeout: 0.1), paused: paused, client: client, logger: logger)
            }
        }
        buffer.finish()
        if let error = client.commitStoredBlocking() {
            logger.warning("final offset commit failed: \(error)")
        }
        if let error = client.closeConsumerBlocking() {
            logger.warning("consumer close: \(error)")
        }
        let exited = lifecycle.machine.withLock { $0.pollThreadExited() }
        for waiter in exited.waiters { waiter.resume(returning: true) }
        exited.run?.resume()
    }

    /// Performs a ``ConsumerStateMachine/FlowControl/Action`` on the poll thread.
    /// - Returns: whether the consumer is paused now.
    private static func perform(
        _ action: ConsumerStateMachine.FlowControl.Action,
        paused: Bool,
        client: RDKafkaClient,
        logger: Logger
    ) -> Bool {
        switch action {
        case .none:
            return paused
        case .pause(let partitions):
            logger.debug("buffer full: pausing \(partitions.map(\.description).sorted())")
            let refused = client.pause(partitions)
            if !refused.isEmpty { logger.warning("cannot pause \(refused)") }
            return true
        case .resume(let partitions):
            logger.debug("buffer drained: resuming \(partitions.map(\.description).sorted())")
            let refused = client.resume(partitions)
            if !refused.isEmpty { logger.warning("cannot resume \(refused)") }
            return false
        }
    }

    /// The consumed messages as an `AsyncSequence`. Iterate from one task at a time.
    public struct Messages: AsyncSequence, Sendable {
        /// One consumed record.
        public typealias Element = KafkaMessage
        let buffer: MessageBuffer

        /// An iterator over the consumer's buffer; one per consumer at a time.
        public func makeAsyncIterator() -> Iterator { Iterator(buffer: buffer) }

        /// Hands out the consumer's messages one at a time; each counts as handed out (a
        /// revocation waits for it) until its offset is stored.
        public struct Iterator: AsyncIteratorProtocol {
            let buffer: MessageBuffer
            /// The next message, waiting while none is buffered; nil once the consumer stops
            /// delivering or the waiting task is cancelled.
            public mutating func next() async -> KafkaMessage? {
                await buffer.next(maximum: 1).first
            }
        }
    }

    /// The consumed messages in batches, as an `AsyncSequence`. Iterate from one task at a time.
    public struct Batches: AsyncSequence, Sendable {
        /// One batch: at least one record, in partition order.
        public typealias Element = [KafkaMessage]
        let buffer: MessageBuffer
        let maximum: Int

        /// An iterator over the consumer's buffer; one per consumer at a time.
        public func makeAsyncIterator() -> Iterator { Iterator(buffer: buffer, maximum: maximum) }

        /// Hands out the consumer's messages in batches; each message counts as handed out (a
        /// revocation waits for it) until its offset is stored.
        public struct Iterator: AsyncIteratorProtocol {
            let buffer: MessageBuffer
            let maximum: Int
            /// Everything buffered, up to the maximum, waiting while nothing is; nil once the
            /// consumer stops delivering or the waiting task is cancelled.
            public mutating func next() async -> [KafkaMessage]? {
                let batch = await buffer.next(maximum: maximum)
                return batch.isEmpty ? nil : batch
            }
        }
    }
}
