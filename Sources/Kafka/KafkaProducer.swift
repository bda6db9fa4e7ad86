import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A Kafka header: a name and raw bytes.
public struct KafkaHeader: Sendable, Hashable {
    /// The header name; names may repeat.
    public var name: String
    /// The raw value.
    public var value: [UInt8]

    /// A header with raw bytes.
    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }

    /// A header with the UTF-8 bytes of `string`.
    public init(name: String, string: String) {
        self.init(name: name, value: Array(string.utf8))
    }

    /// The value as UTF-8 text; nil when it is not UTF-8.
    public var stringValue: String? { String(bytes: value, encoding: .utf8) }
}

/// A message to produce.
public struct OutgoingMessage: Sendable, Hashable {
    /// The topic to produce to; it must exist (clients do not create topics).
    public var topic: String
    /// The partitioning key: messages of one key land in one partition, in order. nil spreads messages.
    public var key: [UInt8]?
    /// The payload, copied into librdkafka when the message is enqueued.
    public var value: [UInt8]
    /// Headers, sent in this order.
    public var headers: [KafkaHeader]

    /// A message; nothing is checked until it is enqueued.
    public init(topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// An idempotent Kafka producer (`enable.idempotence=true`, `acks=all`).
///
/// - Ordering: messages with the same key go to the same partition, and messages sent by one
///   task in sequence keep that sequence, even across retries (idempotence).
/// - `send` does not block a thread: it enqueues and suspends until librdkafka's delivery report,
///   so many sends can be in flight at once. ``submit(_:)`` enqueues without suspending and
///   hands back the reports to await later (pipelining). Delivery reports are served by a
///   dedicated poll thread, never by Swift's cooperative pool.
/// - Thread-safety: all methods may be called concurrently from any task.
/// - Service: the poll thread is ``run()``'s: it starts when `run()` is called and has stopped
///   when `run()` returns, which is once the producer is shut down (by the graceful shutdown of
///   the surrounding `ServiceGroup`, by ``shutdown(timeout:)``, or by cancellation). Outside a
///   `ServiceGroup`, ``withRunningClients(_:isolation:body:)`` runs it for the length of a scope.
/// - Before `run()`: messages are accepted, and librdkafka queues and sends them, but no
///   delivery report is served, so `send` and the results of ``submit(_:)`` wait until `run()`
///   polls (and the local queue, bounded by `queue.buffering.max.messages`, fills up meanwhile).
/// - Shutdown: ``shutdown(timeout:)`` refuses new messages, flushes, fails what could not be
///   delivered in time with ``KafkaError/delivery(code:reason:transient:)``, and stops the poll
///   thread; it completes on a producer that never ran too. A producer released without
///   `run()` or a shutdown fails what is still undelivered at once, on a short-lived thread
///   that exits when done.
public final class KafkaProducer: KafkaClientService, Sendable {
    /// Internal, not private, so tests can watch it being released with the poll thread.
    let client: RDKafkaClient
    /// Shared with the poll thread, which reports its exit there.
    private let lifecycle = ClientLifecycle(ProducerStateMachine())
    private let logger: Logger
    private let shutdownTimeout: Duration

    /// The producer defaults. Anything in `configuration.properties` overrides them.
    public static let defaults: [KafkaProperty] = [
        KafkaProperty(name: "enable.idempotence", value: "true", source: "default"),
        KafkaProperty(name: "acks", value: "all", source: "default"),
        // No lingering: the outbox relay already hands librdkafka whole batches (everything
        // committed since its last read), and each hop of an order would wait out linger.ms
        // (5 ms by default) before its event leaves. Under load, messages still batch while
        // earlier requests are in flight.
        KafkaProperty(name: "linger.ms", value: "0", source: "default"),
        KafkaProperty(name: "compression.type", value: "lz4", source: "default"),
        // A delivery report within 30 s (librdkafka's default is 5 min): the outbox keeps the
        // row and retries, and shutdown is not held up by a dead broker.
        KafkaProperty(name: "message.timeout.ms", value: "30000", source: "default"),
    ]

    /// Creates the producer; nothing is polled until ``run()``. Connects lazily: no broker needs
    /// to be reachable yet.
    /// - Parameter shutdownTimeout: the flush budget of the graceful shutdown of ``run()``.
    /// - Throws: ``KafkaError/invalidProperty(property:source:reason:)`` for a property
    ///   librdkafka rejects, or ``KafkaError/clientCreation(reason:)``.
    public init(
        configuration: KafkaClientConfiguration,
        logger: Logger,
        shutdownTimeout: Duration = .seconds(10)
    ) throws(KafkaError) {
        let context = ClientContext(
            logger: logger,
            statistics: KafkaStatisticsRecorder(client: configuration.clientId + "-producer")
        )
        self.logger = logger
        self.shutdownTimeout = shutdownTimeout
        self.client = try RDKafkaClient(
            kind: .producer,
            configuration: configuration,
            defaults: Self.defaults,
            context: context
        )
    }

    deinit {
        // The poll thread holds the client and the lifecycle, never the producer.
        Self.perform(lifecycle.machine.withLock { $0.released() }, client: client, lifecycle: lifecycle)
    }

    /// The poll loop: starts the poll thread, and returns once the producer is shut down —
    /// every message has its result and the poll thread has exited (or, stuck in librdkafka,
    /// was given up on 2 s after the flush). The graceful shutdown of the surrounding
    /// `ServiceGroup` shuts it down with the `shutdownTimeout` of `init`; cancellation shuts it
    /// down without flushing (what is undelivered fails at once); an explicit
    /// ``shutdown(timeout:)`` ends it too. Never throws.
    ///
    /// - Precondition: not called while it runs (the poll loop runs once; a second call traps).
    ///   On a producer shut down before `run()`, it returns once that shutdown finished.
    public func run() async {
        await runPollLoop(endingOnGracefulShutdown: true)
    }

    /// ``run()``, except that the graceful shutdown of a surrounding `ServiceGroup` does not
    /// end it: only a shutdown of the producer, or cancellation, does.
    public func runUntilShutdown() async {
        await runPollLoop(endingOnGracefulShutdown: false)
    }

    /// ``shutdown(timeout:)`` with the `shutdownTimeout` of `init`, as the graceful shutdown of
    /// ``run()`` does.
    public func shutdownGracefully() async {
        await shutdown(timeout: shutdownTimeout)
    }

    private func runPollLoop(endingOnGracefulShutdown: Bool) async {
        switch lifecycle.machine.withLock({ $0.run() }) {
        case .startPollThread:
            Self.startPollThread(client: client, lifecycle: lifecycle)
        case .waitForShutdown:
            await waitForShutdown()
            return
        }
        await awaitShutdown(
            endingOnGracefulShutdown: endingOnGracefulShutdown,
            budget: shutdownTimeout,
            shutdown: { await self.shutdown(timeout: $0) },
            ended: { await waitForShutdown() }
        )
    }

    /// The poll thread serves delivery reports until it is told to stop; then nothing enqueues
    /// any more (the state left `running` first, or the producer is gone), so it fails what is
    /// left once and serves those reports, so that no sender waits forever.
    private static func startPollThread(client: RDKafkaClient, lifecycle: ClientLifecycle<ProducerStateMachine>) {
        PollThread.start(name: "kafka-producer-poll") {
            while lifecycle.isPolling {
                client.poll(milliseconds: 100)
            }
            client.failUndeliveredBlocking()
            lifecycle.machine.withLock { $0.pollThreadExited() }?.resume()
        }
    }

    /// Performs a state machine's ``ProducerStateMachine/StopAction``.
    private static func perform(
        _ action: ProducerStateMachine.StopAction,
        client: RDKafkaClient,
        lifecycle: ClientLifecycle<ProducerStateMachine>
    ) {
        switch action {
        case .stopPollThread:
            lifecycle.stopPollThread()
        case .startStoppedPollThread:
            lifecycle.stopPollThread()
            startPollThread(client: client, lifecycle: lifecycle)
        case .none:
            break
        }
    }

    /// Sends one message and returns where it was stored. Before ``run()``, the report (and so
    /// this call) waits until `run()` polls.
    /// - Throws: ``KafkaError/delivery(code:reason:transient:)`` when librdkafka reports a
    ///   failure (after its own retries, bounded by `message.timeout.ms`),
    ///   ``KafkaError/shutDown`` once ``shutdown(timeout:)`` began, or `CancellationError` when
    ///   the task is cancelled while waiting: the message stays enqueued and its report is still
    ///   collected, it is only not waited for.
    public func send(
        topic: String,
        key: [UInt8]?,
        value: [UInt8],
        headers: [KafkaHeader] = []
    ) async throws -> DeliveryReport {
        let pending = submit([OutgoingMessage(topic: topic, key: key, value: value, headers: headers)])
        return try await pending.cancellableResults()[0].get()
    }

    /// Enqueues `messages` in order without waiting between them, then waits for every
    /// delivery report. Messages with the same key keep their order.
    ///
    /// When one cannot be enqueued (local queue full, shut down), it and every later message
    /// fail without being sent, so a retry of the failed suffix keeps the order. Never blocks a
    /// thread; not cancellable (every result is returned). Before ``run()``, the reports (and
    /// so this call) wait until `run()` polls.
    /// - Returns: one result per message, in the same order.
    public func send(_ messages: [OutgoingMessage]) async -> [Result<DeliveryReport, KafkaError>] {
        await submit(messages).results()
    }

    /// Enqueues `messages` into librdkafka now, in order, and returns without waiting for their
    /// delivery reports, which the returned handle collects.
    ///
    /// - Ordering: the messages are enqueued synchronously on the calling thread before this
    ///   returns, so messages of one key from consecutive `submit` calls of one task are queued,
    ///   sent and (idempotence) stored in call order. Concurrent callers interleave.
    /// - Failure: when a message cannot be enqueued (local queue full: transient; too large:
    ///   not transient; shut down), it fails with that error and every later one of this call
    ///   with ``KafkaError/skipped``, unsent; ``PendingDeliveries/accepted`` says how many were
    ///   enqueued, so a caller can retry the suffix in order.
    /// - Never blocks and never suspends; thread-safe (concurrent calls enqueue one after the
    ///   other, each call's messages contiguously). Accepted before ``run()`` too; the reports
    ///   then arrive once `run()` polls.
    public func submit(_ messages: [OutgoingMessage]) -> PendingDeliveries {
        let batch = DeliveryBatch(count: messages.count)
        // One lock per call, held while enqueueing (librdkafka's produce never blocks here), so
        // a shutdown cannot start between the check and the enqueue.
        let (accepted, rejection) = lifecycle.machine.withLock { state -> (Int, KafkaError?) in
            switch state.submit() {
            case .reject:
                return (0, .shutDown)
            case .enqueue:
                for index in messages.indices {
                    // A full local queue (queue.buffering.max.*) fails this and every later
                    // message as transient, without blocking this thread: the caller retries the
                    // suffix later, in order.
                    if let error = client.produce(messages[index], slot: DeliverySlot(batch: batch, index: index)) {
                        return (index, error)
                    }
                }
                return (messages.count, nil)
            }
        }
        if let rejection { batch.failRemaining(from: accepted, with: rejection) }
        return PendingDeliveries(batch: batch, accepted: accepted, rejection: rejection)
    }

    /// The idempotent producer's fatal error, once librdkafka raised one (for example a
    /// sequence gap it cannot recover from). From then on nothing can be delivered: the owner
    /// should stop and start a new producer (a service exits and orderd restarts it).
    /// Non-blocking and thread-safe.
    public var fatalError: KafkaError? {
        client.fatalError
    }

    /// Raises a fatal error as librdkafka would on an out-of-order sequence, so tests can
    /// exercise ``fatalError`` handling.
    @_spi(Testing)
    public func raiseFatalErrorForTesting(_ reason: String) {
        client.raiseFatalError(reason: reason)
    }

    /// True when a broker answered a metadata request within `timeout`, whether or not ``run()``
    /// polls. Runs on the module's shared blocking pool, never on the cooperative pool.
    public func brokerAnswers(timeout: Duration = .seconds(2)) async -> Bool {
        await BlockingPool.run { [client] in client.brokerAnswersBlocking(timeout: timeout) }
    }

    /// Waits at most `timeout` until every message enqueued so far is delivered, then fails
    /// every one still undelivered (transient ``KafkaError/delivery(code:reason:transient:)``),
    /// so that each has its result, whether or not ``run()`` polls. Unlike
    /// ``shutdown(timeout:)`` the producer goes on accepting messages: for an owner that must
    /// see every outcome before it stops (the outbox relay marks what was delivered) while the
    /// producer's own shutdown comes later. Runs on the module's shared blocking pool.
    /// - Returns: how many messages (and requests) were still undelivered; 0 when everything
    ///   was delivered in time.
    @discardableResult
    public func settle(timeout: Duration) async -> Int {
        await BlockingPool.run { [client] in
            if client.flushBlocking(timeout: timeout) { return 0 }
            let left = Int(client.outQueueLength)
            client.failUndeliveredBlocking()
            return left
        }
    }

    /// Refuses new messages (they fail with ``KafkaError/shutDown``), flushes for at most
    /// `timeout`, fails every message still undelivered, and stops the poll thread (waiting at
    /// most 2 s more for it); ``run()`` returns once this is done. Idempotent: a concurrent
    /// caller returns when the first is done. Completes on a producer that never ran too
    /// (librdkafka's flush serves the reports itself).
    public func shutdown(timeout: Duration = .seconds(10)) async {
        switch lifecycle.machine.withLock({ $0.shutdown() }) {
        case .none:
            return
        case .waitForShutdown:
            await waitForShutdown()
        case .flush:
            let left = await settle(timeout: timeout)
            if left > 0 {
                logger.warning(
                    "producer shutdown: \(left) messages not delivered in time; they fail and stay in the outbox"
                )
            }
            Self.perform(lifecycle.machine.withLock { $0.flushed() }, client: client, lifecycle: lifecycle)
            await waitForPollThread(timeout: .seconds(2))
            for waiter in lifecycle.machine.withLock({ $0.shutdownFinished() }) { waiter.resume() }
        }
    }

    /// Waits until the shutdown in progress (or, from `run()`, the one to come) has finished.
    private func waitForShutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            switch lifecycle.machine.withLock({ $0.waitForShutdown(continuation) }) {
            case .suspend: break
            case .resume: continuation.resume()
            }
        }
    }

    /// Waits until the poll thread has exited, or `timeout` passed (it is stuck in librdkafka).
    private func waitForPollThread(timeout: Duration) async {
        await lifecycle.wait(
            timeout: timeout,
            timeoutValue: (),
            register: { machine, waiter in
                switch machine.waitForPollThread(waiter) {
                case .suspend: nil
                case .resume: ()
                }
            },
            takeBack: { $0.pollThreadWaitTimedOut() }
        )
    }
}

/// The delivery reports of one ``KafkaProducer/submit(_:)`` call, collected as librdkafka
/// serves them on the producer's poll thread.
///
/// Every message gets exactly one result: its report, its enqueue failure, or a failure from
/// ``KafkaProducer/shutdown(timeout:)`` (which fails whatever is undelivered), so the waits below
/// end within `message.timeout.ms` or a producer shutdown. ``results()`` and ``nextResults()``
/// are not cancellable for that reason; ``cancellableResults()`` is, and a cancelled waiter loses
/// nothing (the handle keeps the results). Sendable; may be awaited from any task.
public struct PendingDeliveries: Sendable {
    /// One message's result, with its index in the submitted array.
    public struct Settled: Sendable {
        /// The message's index in the array given to ``KafkaProducer/submit(_:)``.
        public var index: Int
        /// Where it was stored, or why it was not.
        public var result: Result<DeliveryReport, KafkaError>
    }

    private let batch: DeliveryBatch
    /// How many messages were submitted.
    public var count: Int { batch.count }
    /// How many messages, from the first, librdkafka accepted; the rest failed without being sent.
    public let accepted: Int
    /// Why message `accepted` could not be enqueued; nil when every message was.
    public let rejection: KafkaError?

    init(batch: DeliveryBatch, accepted: Int, rejection: KafkaError?) {
        self.batch = batch
        self.accepted = accepted
        self.rejection = rejection
    }

    /// Waits for every result; returns them in message order. May be called any number of times,
    /// from any number of tasks.
    public func results() async -> [Result<DeliveryReport, KafkaError>] {
        await batch.results()
    }

    /// Like ``results()``, but a cancelled waiter stops waiting with `CancellationError`; the
    /// results are still collected and a later call returns them.
    public func cancellableResults() async throws -> [Result<DeliveryReport, KafkaError>] {
        try await batch.cancellableResults()
    }

    /// Waits until at least one result that no earlier call returned is in, and returns all such
    /// results, sorted by index; returns an empty array once every result has been returned.
    /// Lets a caller act on the reports that are in while others (a partition without a leader)
    /// are still pending.
    /// - Precondition: one call at a time per handle (a second concurrent call traps).
    public func nextResults() async -> [Settled] {
        await batch.nextResults()
    }
}
