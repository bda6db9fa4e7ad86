import Foundation
import Kafka
import Logging
import Metrics
import ServiceLifecycle
import Storage
import Synchronization

/// Publishes outbox rows to Kafka in insertion order, marks them sent, and prunes the store.
///
/// - One relay per store: instances of a service sharing one PostgreSQL schema each run a
///   relay, and the one that holds the store's relay lock publishes while the others stand by
///   (``SQLDatabase/whileHolding(lock:retry:_:)``); when it dies, its lock goes with its
///   session and a standby takes over within about a second, starting from the oldest unsent
///   row. So every row is published once in the normal case and one order's events are never
///   reordered, whichever instance wrote them.
/// - Order: rows are read in ``OutboxPosition`` order, which on PostgreSQL never skips a row
///   committed after a later one was read.
///
/// - Pipelining: rows are enqueued as they are read, in id order, while the delivery reports of
///   up to `pipelineDepth × batchSize` earlier rows are still outstanding; delivered rows are
///   marked sent in bulk as their reports come in.
/// - At-least-once: a row is marked only after its delivery report. A crash between the two
///   re-publishes the row on restart; consumers drop the repeat by event id.
/// - Order: one relay enqueues every row of a topic and key in id order, and at most one row
///   of a topic and key is in flight at a time (the next waits for its report), so a row that
///   times out can never be overtaken by a later one of the same order.
/// - Failures, by ``KafkaError/publishFailure`` (the one rule, with the librdkafka codes it
///   maps):
///   - ``KafkaError/PublishFailure/retry``: anything about the client or the cluster rather
///     than the row (broker or partition unavailable, timeout, queue full, a missing ACL such as
///     `TOPIC_AUTHORIZATION_FAILED`, unknown topic). The row holds back only its own topic and
///     key: later rows of that key, even ones already delivered, are not marked sent and are
///     re-sent after it, in id order, after a capped backoff (`retryBackoff`). Rows of other
///     keys keep flowing. Such a row is never set aside, however long the failure lasts.
///   - ``KafkaError/PublishFailure/setAside``: Kafka will never accept the row because of the
///     row itself (``KafkaError/messageRejectionCodes``: too large, invalid record). It is set
///     aside in the outbox with its error (`outbox_failed_total`), and it holds back the later
///     rows of its topic and key: they are not published until an operator requeues or
///     discards it (``EventStore/requeueSetAside(_:)``, the service's `outbox` command). Other
///     keys keep flowing.
///   - ``KafkaError/PublishFailure/stop``: the producer cannot go on (its fatal error, a client
///     being destroyed). ``run()`` ends with ``RelayError/producerFailed(_:)``: only a new
///     producer (a restarted service) can go on; the outbox keeps every unsent row. A producer
///     shut down under the relay (only in the service's own shutdown) ends ``run()`` without
///     an error, the rows likewise kept.
/// - Rows are never dropped by the relay.
/// - Shutdown: on graceful shutdown it goes on publishing what is pending, then settles the
///   producer (flushes, and fails what is still undelivered), within `drainTimeout` for both
///   together, marking what was delivered meanwhile. Cancellation skips the drain. The
///   producer's own shutdown is its owner's (in ``ServiceHost``, the producer's graceful
///   shutdown, after the relay's).
/// - Pruning: every `pruneInterval` it deletes, in bounded chunks through indexes, outbox rows
///   sent more than `outboxRetention` ago and inbox entries older than `inboxRetention` (see
///   ``EventStore/defaultInboxRetention`` for why that must exceed the longest redelivery window).
/// - Metrics: `outbox_pending` (sampled at most once a second), `outbox_published_total`,
///   `outbox_failed_total`, `outbox_relay_active` (1 while this instance publishes).
public final class OutboxRelay: Service, Sendable {
    private let store: EventStore
    private let producer: KafkaProducer
    private let logger: Logger
    private let batchSize: Int
    private let idleInterval: Duration
    private let drainTimeout: Duration
    private let pipelineDepth: Int
    private let retryBackoff: Backoff
    private let outboxRetention: Duration
    private let inboxRetention: Duration
    private let pruneInterval: Duration
    private let readiness: Readiness?
    private let signal = WakeSignal()
    private let pendingGauge = Gauge(label: "outbox_pending")
    private let publishedCounter = Counter(label: "outbox_published_total")
    private let failedCounter = Counter(label: "outbox_failed_total")
    private let activeGauge = Gauge(label: "outbox_relay_active")

    /// Why the relay stopped on its own.
    public enum RelayError: Error, CustomStringConvertible {
        /// The producer hit a fatal error; only a new process (a new producer) can go on.
        case producerFailed(KafkaError)

        /// Says what failed and that the service must be restarted.
        public var description: String {
            switch self {
            case .producerFailed(let error): "outbox relay stopped: \(error); restart the service"
            }
        }
    }

    /// - Parameters:
    ///   - batchSize: rows read (and enqueued) per outbox query.
    ///   - idleInterval: how often the outbox is looked at without a ``wake()``.
    ///   - drainTimeout: the graceful-shutdown budget for publishing what is pending, and again
    ///     for the producer's final flush.
    ///   - pipelineDepth: how many batches' worth of rows may await delivery reports at once.
    ///   - retryBackoff: the delays between retries of a key whose row failed transiently.
    ///   - outboxRetention: how long sent rows stay in the outbox.
    ///   - inboxRetention: how long processed event ids stay in the inbox; must exceed the
    ///     longest time in which an event can be delivered again (Kafka's log retention).
    ///   - pruneInterval: how often old rows are pruned.
    ///   - readiness: where a store error that needs someone to act (disk full, I/O error,
    ///     read-only or corrupt database) turns the service not ready while the relay retries.
    public init(
        store: EventStore,
        producer: KafkaProducer,
        logger: Logger,
        batchSize: Int = 500,
        idleInterval: Duration = .seconds(1),
        drainTimeout: Duration = .seconds(5),
        pipelineDepth: Int = 8,
        retryBackoff: Backoff = Backoff(),
        outboxRetention: Duration = EventStore.defaultOutboxRetention,
        inboxRetention: Duration = EventStore.defaultInboxRetention,
        pruneInterval: Duration = .seconds(5),
        readiness: Readiness? = nil
    ) {
        precondition(batchSize > 0 && pipelineDepth > 0, "batchSize and pipelineDepth must be positive")
        self.store = store
        self.producer = producer
        self.logger = logger
        self.batchSize = batchSize
        self.idleInterval = idleInterval
        self.drainTimeout = drainTimeout
        self.pipelineDepth = pipelineDepth
        self.retryBackoff = retryBackoff
        self.outboxRetention = outboxRetention
        self.inboxRetention = inboxRetention
        self.pruneInterval = pruneInterval
        self.readiness = readiness
        activeGauge.record(0)
    }

    /// Asks the relay to look at the outbox now (after a commit that added rows). Thread-safe,
    /// never blocks; wake-ups that arrive while the relay is busy coalesce into one.
    public func wake() {
        signal.signal()
    }

    /// Publishes outbox rows until graceful shutdown, in order per (topic, key); a row is marked
    /// sent only after Kafka acknowledged it. On shutdown it drains what is in flight and flushes
    /// the producer within the shutdown budget; unsent rows stay in the outbox for the next start.
    /// Throws ``RelayError`` when the producer hit a fatal error.
    public func run() async throws {
        // The handler only flips the signal; the loop owns every deadline itself, so nothing is
        // shared between the handler and the loop but the (locked) signal.
        let fatal = await withGracefulShutdownHandler {
            await relayWhileLeading()
        } onGracefulShutdown: {
            self.signal.finish()
        }
        if let fatal {
            logger.critical("\(RelayError.producerFailed(fatal)); nothing is lost, the outbox keeps every unsent row")
            throw RelayError.producerFailed(fatal)
        }
    }

    // MARK: - One relay per store

    /// Runs the pipeline while this instance holds the store's relay lock, so that of several
    /// instances sharing one PostgreSQL schema exactly one publishes (each row once, in order)
    /// and the others stand by; one that dies releases the lock with its session, and a standby
    /// takes over within about a second. On SQLite the lock is a file lock nobody else holds.
    /// Returns the producer's fatal error, or nil at shutdown.
    private func relayWhileLeading() async -> KafkaError? {
        let standby = StandbyNote()
        var backoff = Backoff()
        while !signal.isFinished, !Task.isCancelled {
            do {
                let outcome = try await store.database.whileHolding(
                    lock: "outbox-relay",
                    retry: { [signal, logger] in
                        if standby.first() {
                            logger.notice(
                                "outbox relay standing by: another instance of this service publishes the outbox"
                            )
                        }
                        await signal.wait(timeout: .seconds(1))
                        return !signal.isFinished
                    },
                    { [self] in
                        if standby.wasStandingBy {
                            logger.notice("outbox relay took over: this instance publishes the outbox now")
                        }
                        activeGauge.record(1)
                        defer { activeGauge.record(0) }
                        return await relay()
                    }
                )
                return outcome ?? nil
            } catch let lost as LockLost {
                logger.error("outbox relay stopped publishing: \(lost); standing by to take over again")
                standby.reset()
            } catch {
                storeFailed(error)
                let delay = backoff.next()
                logger.warning("outbox relay cannot take its store lock, retrying in \(delay): \(error)")
                await signal.wait(timeout: delay)
            }
        }
        return nil
    }

    // MARK: - The pipeline

    /// Ordering unit: Kafka orders the messages of one key within one topic.
    struct OrderingKey: Hashable {
        var topic: String
        var key: [UInt8]?

        init(_ message: OutgoingMessage) {
            topic = message.topic
            key = message.key
        }
    }

    /// A key whose row failed transiently. Its rows with an id at or above `from` are not marked
    /// sent until they are re-sent, in id order, by a retry of this key alone.
    struct Hold {
        /// The first position of this key not known to be delivered after every earlier row of it.
        var from: OutboxPosition
        var retryAt: ContinuousClock.Instant
        var backoff: Backoff
        /// The ids of the retry in flight, in order, not yet settled.
        var retrying: ArraySlice<Int64> = []
    }

    /// Rows enqueued by one `submit`, until every result is handed out.
    struct InFlight {
        var records: [OutboxRecord]
        var pending: PendingDeliveries
        var handedOut = 0
    }

    enum Phase: Equatable {
        case running
        case draining(until: ContinuousClock.Instant)
    }

    private enum Event: Sendable {
        case delivered(batch: Int, [PendingDeliveries.Settled])
        case woke
    }

    /// Everything the loop knows. Owned and mutated by the loop's task alone (the task group's
    /// children only await delivery results or a wake-up and hand them back), so it needs no lock.
    struct Pipeline {
        /// The last position read from the outbox so far; the next read starts after it.
        var cursor = OutboxPosition.start
        var moreToRead = true
        var readPausedUntil = ContinuousClock.Instant.now
        var readBackoff = Backoff()
        var batches: [Int: InFlight] = [:]
        var nextBatch = 0
        /// Accepted messages whose result has not been handled yet.
        var awaiting = 0
        var keysInFlight: [OrderingKey: Int] = [:]
        var holds: [OrderingKey: Hold] = [:]
        /// Keys with a row set aside in this run, with the first such position: no later row of
        /// the key is sent (rows set aside before this run are left out by the store's reads
        /// already).
        var setAside: [OrderingKey: OutboxPosition] = [:]
        var toMark: [Int64] = []
        var toSetAside: [(record: OutboxRecord, error: KafkaError)] = []
        var storeBackoff = Backoff()
        var storePausedUntil = ContinuousClock.Instant.now
        var transientFailures = 0
        var lastTransientError: KafkaError?
        var nextGauge = ContinuousClock.Instant.now
        var nextPrune = ContinuousClock.Instant.now
        /// The producer was shut down under the relay: nothing more can be enqueued.
        var producerClosed = false
        /// The producer's fatal error, once seen; from then on no result is applied (every row
        /// not yet marked is published again by the next process, in order).
        var fatal: KafkaError?

        var caughtUp: Bool { !moreToRead && batches.isEmpty && holds.isEmpty && toMark.isEmpty }

        /// Whether the row of `key` at `position` comes after a row of its key set aside in this run.
        func isSetAside(_ key: OrderingKey, behind position: OutboxPosition) -> Bool {
            setAside[key].map { position > $0 } ?? false
        }
    }

    /// Publishes until shutdown, then drains and shuts the producer down; returns the producer's
    /// fatal error if one ended it early.
    private func relay() async -> KafkaError? {
        await withTaskGroup(of: Event.self) { group in
            var state = Pipeline()
            var phase = Phase.running
            var wakerArmed = false
            var cancelled = false
            loop: while state.fatal == nil, !state.producerClosed {
                var now = ContinuousClock.now
                if phase == .running, signal.isFinished || Task.isCancelled {
                    cancelled = Task.isCancelled
                    phase = .draining(until: now + (cancelled ? .zero : drainTimeout))
                    state.moreToRead = true
                }
                await flushStoreWrites(&state)
                if now >= state.nextGauge || now >= state.nextPrune { await maintain(&state, now: now) }
                await retryHeldKeys(&state, group: &group)
                while state.fatal == nil, !state.producerClosed, state.moreToRead, now >= state.readPausedUntil,
                    state.awaiting < pipelineDepth * batchSize
                {
                    await readAndSubmit(&state, group: &group)
                    now = ContinuousClock.now
                }
                if state.fatal != nil || state.producerClosed { break loop }
                if case .draining(let until) = phase, now >= until || state.caughtUp { break loop }
                if !wakerArmed {
                    wakerArmed = true
                    let wakeAt = nextWakeUp(state, phase: phase, now: now)
                    let draining = phase != .running
                    group.addTask { [signal] in
                        if draining {
                            try? await Task.sleep(until: wakeAt, clock: .continuous)
                        } else {
                            await signal.wait(timeout: max(wakeAt - ContinuousClock.now, .milliseconds(1)))
                        }
                        return .woke
                    }
                }
                switch await group.next() {
                case .woke?:
                    wakerArmed = false
                    state.moreToRead = true
                case .delivered(let batch, let settled)?:
                    settle(batch: batch, settled, in: &state, group: &group)
                case nil:
                    break loop
                }
            }
            // Closing: stop the waker, then let the producer flush (bounded) and fail whatever it
            // could not deliver, so every outstanding result arrives; mark what was delivered.
            // Settled, not shut down: the producer's run() must end in its own turn of the
            // ServiceGroup's graceful shutdown, not during the relay's.
            group.cancelAll()
            // One budget for draining and flushing together: whatever the drain left of it.
            var flushBudget = Duration.zero
            if state.fatal == nil, !cancelled, case .draining(let until) = phase {
                flushBudget = max(.zero, until - ContinuousClock.now)
            }
            await producer.settle(timeout: flushBudget)
            while let event = await group.next() {
                if case .delivered(let batch, let settled) = event {
                    settle(batch: batch, settled, in: &state, group: &group)
                }
            }
            await flushStoreWrites(&state, force: true)
            if let pending = try? await store.pendingCount() { pendingGauge.record(pending) }
            return state.fatal
        }
    }

    /// When the loop must look again without an event: the idle poll, the next retry, the next
    /// maintenance, the end of a read pause or of the drain.
    private func nextWakeUp(_ state: Pipeline, phase: Phase, now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        // Only what no delivery result will wake the loop for counts here; anything else would
        // make it spin while results are outstanding.
        var wakeAt = min(now + idleInterval, state.nextGauge, state.nextPrune)
        if state.moreToRead, state.awaiting < pipelineDepth * batchSize { wakeAt = min(wakeAt, state.readPausedUntil) }
        if !state.toMark.isEmpty || !state.toSetAside.isEmpty { wakeAt = min(wakeAt, state.storePausedUntil) }
        for (key, hold) in state.holds where hold.retrying.isEmpty && state.keysInFlight[key] == nil {
            wakeAt = min(wakeAt, hold.retryAt)
        }
        if case .draining(let until) = phase {
            // Draining ignores the (finished) signal: look often so a retry that becomes due or
            // the deadline is not missed by much.
            wakeAt = min(wakeAt, until, now + .milliseconds(50))
        }
        return wakeAt
    }

    /// Reads the next rows above the cursor and enqueues those whose key is not held.
    private func readAndSubmit(_ state: inout Pipeline, group: inout TaskGroup<Event>) async {
        let records: [OutboxRecord]
        do {
            records = try await store.unsent(after: state.cursor, limit: batchSize)
        } catch {
            storeFailed(error)
            logger.warning("outbox read failed, retrying: \(error)")
            state.readPausedUntil = .now + state.readBackoff.next()
            return
        }
        state.moreToRead = records.count == batchSize
        guard let last = records.last else { return }
        state.cursor = last.position
        // One row per key in flight: librdkafka can still deliver a later message of a partition
        // after an earlier one timed out (INTRODUCTION.md, "Message timeout considerations"), so a
        // later row of a key waits for the earlier one's report instead of racing it. Events of one
        // order rarely share a topic, so this costs almost nothing. Rows of a held key are left
        // unsent; its retry picks them up in order.
        var sendable: [OutboxRecord] = []
        sendable.reserveCapacity(records.count)
        var keys = Set<OrderingKey>()
        for record in records {
            let key = OrderingKey(record.message)
            guard !state.isSetAside(key, behind: record.position), state.holds[key] == nil else { continue }
            guard state.keysInFlight[key] == nil, keys.insert(key).inserted else {
                state.holds[key] = Hold(from: record.position, retryAt: .now, backoff: retryBackoff)
                continue
            }
            sendable.append(record)
        }
        guard !sendable.isEmpty else { return }
        let pending = producer.submit(sendable.map(\.message))
        track(Array(sendable.prefix(pending.accepted)), pending, in: &state, group: &group)
        guard let rejection = pending.rejection else {
            state.readBackoff.reset()
            storeSucceeded()
            return
        }
        let rejected = sendable[pending.accepted]
        if let fatal = producer.fatalError {
            state.fatal = fatal
            return
        }
        // Nothing from the rejected row on was enqueued, and every row enqueued so far comes
        // before it: moving the cursor back re-reads exactly the rejected suffix, in order.
        state.moreToRead = true
        switch rejection.publishFailure {
        case .stop:
            state.cursor = rejected.position.predecessor
            stop(on: rejection, in: &state)
        case .retry:
            // A full local queue, or a topic the client knows to be in error: back off reading;
            // outstanding reports drain the queue.
            state.cursor = rejected.position.predecessor
            state.readPausedUntil = .now + state.readBackoff.next()
            noteTransient(rejection, in: &state)
        case .setAside:
            state.cursor = rejected.position
            setAside(rejected, rejection, in: &state)
        }
    }

    private func track(
        _ records: [OutboxRecord],
        _ pending: PendingDeliveries,
        in state: inout Pipeline,
        group: inout TaskGroup<Event>
    ) {
        guard !records.isEmpty else { return }
        let id = state.nextBatch
        state.nextBatch += 1
        state.batches[id] = InFlight(records: records, pending: pending)
        state.awaiting += records.count
        for record in records { state.keysInFlight[OrderingKey(record.message), default: 0] += 1 }
        group.addTask { .delivered(batch: id, await pending.nextResults()) }
    }

    /// Applies delivery results of one batch, in index order, and waits for the rest of them. A
    /// failure that turns out to be the producer's fatal error stops applying results at all.
    private func settle(
        batch id: Int,
        _ settled: [PendingDeliveries.Settled],
        in state: inout Pipeline,
        group: inout TaskGroup<Event>
    ) {
        guard var batch = state.batches[id] else { return }
        batch.handedOut += settled.count
        if batch.handedOut < batch.pending.count {
            state.batches[id] = batch
            let pending = batch.pending
            group.addTask { .delivered(batch: id, await pending.nextResults()) }
        } else {
            state.batches[id] = nil
        }
        if state.fatal == nil, settled.contains(where: { if case .failure = $0.result { true } else { false } }) {
            state.fatal = producer.fatalError
        }
        let now = ContinuousClock.now
        for result in settled where result.index < batch.records.count {
            let record = batch.records[result.index]
            let key = OrderingKey(record.message)
            state.awaiting -= 1
            if let count = state.keysInFlight[key], count > 1 {
                state.keysInFlight[key] = count - 1
            } else {
                state.keysInFlight[key] = nil
            }
            if state.fatal == nil { apply(result.result, to: record, key: key, in: &state, now: now) }
        }
    }

    /// The ordering rules for one result.
    private func apply(
        _ result: Result<DeliveryReport, KafkaError>,
        to record: OutboxRecord,
        key: OrderingKey,
        in state: inout Pipeline,
        now: ContinuousClock.Instant
    ) {
        let failure: KafkaError?
        switch result {
        case .success: failure = nil
        case .failure(let error): failure = error
        }
        if let failure, failure.publishFailure == .stop {
            // Nothing of this key (or any other) can go on with this producer; the row stays unsent.
            stop(on: failure, in: &state)
            return
        }
        if let failure, failure.publishFailure == .setAside {
            // A row after the failed one of a held key (and not its retry's) is re-sent after it.
            if let hold = state.holds[key], record.position >= hold.from, hold.retrying.first != record.id { return }
            // Set aside, it holds back every later row of its key, held or not.
            setAside(record, failure, in: &state)
            return
        }
        guard var hold = state.holds[key] else {
            if let failure {
                var backoff = retryBackoff
                state.holds[key] = Hold(from: record.position, retryAt: now + backoff.next(), backoff: backoff)
                noteTransient(failure, in: &state)
            } else {
                state.toMark.append(record.id)
            }
            return
        }
        defer { state.holds[key] = hold }
        if hold.retrying.first == record.id {
            // The next row of this key's retry, every earlier one of which was delivered.
            hold.retrying.removeFirst()
            if let failure {
                // The rest of this retry is not marked (they no longer match `retrying`).
                hold.from = record.position
                hold.retrying = []
                hold.retryAt = now + hold.backoff.next()
                noteTransient(failure, in: &state)
            } else {
                state.toMark.append(record.id)
                hold.from = record.position.successor
                // A completed retry looks again at once: more rows of the key may have been read.
                if hold.retrying.isEmpty { hold.retryAt = now }
            }
        } else if record.position < hold.from {
            // Enqueued before the row that failed: its own result stands.
            if let failure {
                hold.from = record.position
                noteTransient(failure, in: &state)
            } else {
                state.toMark.append(record.id)
            }
        }
        // Otherwise the row comes after the failed one: delivered or not, it is re-sent after it.
    }

    /// Sets `record` aside (written by the next ``flushStoreWrites(_:force:)``) and holds back
    /// every later row of its key for the rest of this run; the store's reads leave them out
    /// from then on too, until an operator requeues or discards the row.
    private func setAside(_ record: OutboxRecord, _ error: KafkaError, in state: inout Pipeline) {
        let key = OrderingKey(record.message)
        state.toSetAside.append((record, error))
        state.setAside[key] = min(state.setAside[key] ?? record.position, record.position)
        state.holds[key] = nil
    }

    /// Stops the relay on an error that says the producer cannot go on.
    private func stop(on error: KafkaError, in state: inout Pipeline) {
        if case .shutDown = error {
            state.producerClosed = true
        } else {
            state.fatal = producer.fatalError ?? error
        }
    }

    private func noteTransient(_ error: KafkaError, in state: inout Pipeline) {
        state.transientFailures += 1
        state.lastTransientError = error
    }

    /// Re-sends, in id order, the held-back rows of each key whose backoff is over and which has
    /// nothing in flight (so the retry cannot overtake an earlier row of the key).
    private func retryHeldKeys(_ state: inout Pipeline, group: inout TaskGroup<Event>) async {
        guard !state.holds.isEmpty, !state.producerClosed else { return }
        let now = ContinuousClock.now
        let due = state.holds.filter { key, hold in
            hold.retrying.isEmpty && hold.retryAt <= now && state.keysInFlight[key] == nil
        }
        for (key, var hold) in due {
            guard hold.from <= state.cursor, !state.isSetAside(key, behind: hold.from) else {
                state.holds[key] = nil
                continue
            }
            let records: [OutboxRecord]
            do {
                // One row at a time, for the reason given in `readAndSubmit`.
                records = try await store.unsent(
                    topic: key.topic,
                    key: key.key,
                    positions: hold.from...state.cursor,
                    limit: 1
                )
            } catch {
                storeFailed(error)
                logger.warning("outbox read failed, retrying: \(error)")
                hold.retryAt = now + hold.backoff.next()
                state.holds[key] = hold
                continue
            }
            guard let first = records.first else {
                // Every row of the key up to the cursor is sent: later rows flow normally again.
                state.holds[key] = nil
                continue
            }
            hold.from = first.position
            let pending = producer.submit(records.map(\.message))
            let accepted = Array(records.prefix(pending.accepted))
            hold.retrying = ArraySlice(accepted.map(\.id))
            if let rejection = pending.rejection {
                let rejected = records[pending.accepted]
                if let fatal = producer.fatalError {
                    state.fatal = fatal
                    return
                }
                switch rejection.publishFailure {
                case .stop:
                    stop(on: rejection, in: &state)
                    return
                case .retry:
                    if accepted.isEmpty { hold.retryAt = now + hold.backoff.next() }
                    noteTransient(rejection, in: &state)
                case .setAside:
                    // Only one row is submitted per retry, so nothing of this key is in flight.
                    setAside(rejected, rejection, in: &state)
                    continue
                }
            }
            state.holds[key] = hold
            track(accepted, pending, in: &state, group: &group)
        }
    }

    /// Marks delivered rows sent (one statement for everything settled since the last call)
    /// and sets permanently failing rows aside. On a database error the ids are kept and
    /// written later: the cursor is past them, so they would otherwise wait for a restart.
    private func flushStoreWrites(_ state: inout Pipeline, force: Bool = false) async {
        guard !state.toMark.isEmpty || !state.toSetAside.isEmpty else { return }
        guard force || ContinuousClock.now >= state.storePausedUntil else { return }
        do {
            if !state.toMark.isEmpty {
                try await store.markSent(state.toMark)
                publishedCounter.increment(by: state.toMark.count)
                state.toMark.removeAll(keepingCapacity: true)
            }
            while let (record, error) = state.toSetAside.first {
                // Kafka will never take this row (too large, invalid): set it aside so the rows of
                // other keys move on. It stays in the outbox with its error; the later rows of its
                // key wait for an operator to requeue or discard it.
                try await store.markFailed(record.id, error: error.description)
                state.toSetAside.removeFirst()
                failedCounter.increment()
                logSetAside(record, error)
            }
            state.storeBackoff.reset()
            storeSucceeded()
        } catch {
            storeFailed(error)
            logger.warning("outbox mark failed, retrying (\(state.toMark.count) rows): \(error)")
            state.storePausedUntil = .now + state.storeBackoff.next()
        }
    }

    /// The once-a-second gauge, the summary of transient failures, and pruning.
    private func maintain(_ state: inout Pipeline, now: ContinuousClock.Instant) async {
        if now >= state.nextGauge {
            state.nextGauge = now + .seconds(1)
            if let pending = try? await store.pendingCount() { pendingGauge.record(pending) }
            if state.transientFailures > 0, let error = state.lastTransientError {
                logger.warning(
                    """
                    outbox publish failed transiently \(state.transientFailures) times; \(state.holds.count) keys held back \
                    and retried with backoff: \(error)
                    """
                )
                state.transientFailures = 0
            }
        }
        if now >= state.nextPrune {
            state.nextPrune = now + pruneInterval
            await prune()
        }
    }

    static let pruneChunksPerRound = 20

    /// Deletes a bounded number of old sent outbox rows and inbox entries: chunks of
    /// ``EventStore/pruneChunk``, each its own short transaction so handlers interleave, at most
    /// `pruneChunksPerRound` per table per round — far more than sustained load adds per
    /// `pruneInterval` (20 × 5,000 per 5 s = 20,000 rows/s), while a large first backlog is
    /// worked off over several rounds.
    func prune(now: Date = Date()) async {
        let outboxCutoff = now.addingTimeInterval(-outboxRetention.timeInterval)
        let inboxCutoff = now.addingTimeInterval(-inboxRetention.timeInterval)
        do {
            for _ in 0..<Self.pruneChunksPerRound {
                guard try await store.pruneOutbox(sentBefore: outboxCutoff) == EventStore.pruneChunk else { break }
            }
            for _ in 0..<Self.pruneChunksPerRound {
                guard try await store.pruneInbox(processedBefore: inboxCutoff) == EventStore.pruneChunk else { break }
            }
        } catch {
            logger.warning("outbox/inbox pruning failed, trying again later: \(error)")
        }
    }

    /// A store error that needs someone to act turns the service not ready (``Readiness/storeFailed(_:_:)``).
    private func storeFailed(_ error: any Error) {
        readiness?.storeFailed(.relay, error)
    }

    private func storeSucceeded() {
        if readiness?.storeRecovered(.relay) == true {
            logger.notice("store writes again; the outbox relay goes on")
        }
    }

    // MARK: - One synchronous round

    enum BatchResult: Equatable {
        case published, idle, failed
        case fatal(KafkaError)
    }

    /// One unpipelined round, for tests and tools: publishes up to `batchSize` rows from the
    /// oldest unsent one and marks the delivered prefix sent. Rows after the first failure stay
    /// unsent even when they were delivered, so the retry re-sends them after the failed one and
    /// one order's events keep their order (the repeat is deduplicated). A row Kafka refuses for
    /// itself is set aside, and the store's reads hold back the later rows of its key from the
    /// next round on; unlike ``run()``, which has one row per key in flight, a later row of the
    /// key in the same round may already have been delivered. Not to be run concurrently with
    /// ``run()``.
    func publishBatch() async -> BatchResult {
        let records: [OutboxRecord]
        do {
            records = try await store.unsent(limit: batchSize)
        } catch {
            logger.warning("outbox read failed, retrying: \(error)")
            return .failed
        }
        guard !records.isEmpty else {
            pendingGauge.record(0)
            return .idle
        }
        let results = await producer.send(records.map(\.message))
        var delivered: [Int64] = []
        var failure: (record: OutboxRecord, error: KafkaError)?
        for (record, result) in zip(records, results) {
            switch result {
            case .success: if failure == nil { delivered.append(record.id) }
            case .failure(let error): failure = failure ?? (record, error)
            }
        }
        if let (_, error) = failure, error.publishFailure == .stop {
            return .fatal(producer.fatalError ?? error)
        }
        do {
            try await store.markSent(delivered)
        } catch {
            logger.warning("outbox mark-sent failed; \(delivered.count) rows will be published again: \(error)")
            return .failed
        }
        publishedCounter.increment(by: delivered.count)
        if let (record, error) = failure {
            guard error.publishFailure == .setAside else {
                logger.warning("outbox publish failed, retrying with backoff: \(error)")
                return .failed
            }
            do {
                try await store.markFailed(record.id, error: error.description)
            } catch {
                logger.warning("outbox mark-failed failed; row \(record.id) will be tried again: \(error)")
                return .failed
            }
            failedCounter.increment()
            logSetAside(record, error)
        }
        return .published
    }

    private func logSetAside(_ record: OutboxRecord, _ error: KafkaError) {
        logger.error(
            """
            outbox row \(record.id) to \(record.message.topic) can never be published and was set aside; the later \
            rows of its key wait until it is requeued or discarded (`\(store.name) outbox list`): \(error)
            """,
            metadata: ["key": .string(record.message.key.map { String(decoding: $0, as: UTF8.self) } ?? "")]
        )
    }
}

/// Whether the relay has said it stands by, so that it says so once per wait.
private final class StandbyNote: Sendable {
    private let said = Mutex(false)

    /// True the first time it is asked after a reset.
    func first() -> Bool {
        said.withLock { said in
            defer { said = true }
            return !said
        }
    }

    var wasStandingBy: Bool { said.withLock { $0 } }

    func reset() {
        said.withLock { $0 = false }
    }
}

extension Duration {
    fileprivate var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
