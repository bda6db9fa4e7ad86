import CRdKafka
import Foundation
import Logging

/// A Kafka header: a name and raw bytes.
public struct KafkaHeader: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]

    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }

    public init(name: String, string: String) {
        self.init(name: name, value: Array(string.utf8))
    }

    public var stringValue: String? { String(bytes: value, encoding: .utf8) }
}

/// A message to produce.
public struct OutgoingMessage: Sendable, Hashable {
    public var topic: String
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]

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
/// - Shutdown: ``shutdown(timeout:)`` flushes, fails what could not be delivered in time with
///   ``KafkaError/delivery(code:reason:transient:)``, and stops the poll thread.
public final class KafkaProducer: Sendable {
    private let client: RdKafkaClient
    private let lifecycle = PollThreadLifecycle()
    private let logger: Logger

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

    public init(configuration: KafkaClientConfiguration, logger: Logger) throws(KafkaError) {
        let context = ClientContext(
            logger: logger,
            statistics: KafkaStatisticsRecorder(client: configuration.clientId + "-producer")
        )
        let conf = Self.defaults
        self.logger = logger
        self.client = try RdKafkaClient(
            type: RD_KAFKA_PRODUCER, configuration: configuration, defaults: conf, context: context
        )
        BlockingThread.start(name: "kafka-producer-poll") { [client, lifecycle] in
            while lifecycle.isRunning {
                rd_kafka_poll(client.handle, 100)
            }
            // Fail whatever is still queued or in flight and serve those delivery reports, so no
            // sender waits forever (a send may have enqueued while shutdown began).
            var rounds = 0
            repeat {
                rd_kafka_purge(client.handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
                rd_kafka_poll(client.handle, 50)
                rounds += 1
            } while rd_kafka_outq_len(client.handle) > 0 && rounds < 100
            lifecycle.threadExited()
        }
    }

    /// Sends one message and returns where it was stored.
    /// - Throws: ``KafkaError/delivery(code:reason:transient:)`` when librdkafka reports a
    ///   failure (after its own retries, bounded by `message.timeout.ms`), or
    ///   ``KafkaError/shutDown`` after ``shutdown(timeout:)``.
    public func send(
        topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = []
    ) async throws -> DeliveryReport {
        let results = await send([OutgoingMessage(topic: topic, key: key, value: value, headers: headers)])
        return try results[0].get()
    }

    /// Enqueues `messages` in order without waiting between them, then waits for every
    /// delivery report. Messages with the same key keep their order.
    ///
    /// When one cannot be enqueued (local queue full, shut down), it and every later message
    /// fail without being sent, so a retry of the failed suffix keeps the order. Never blocks.
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
    /// - Never blocks and never suspends; thread-safe.
    public func submit(_ messages: [OutgoingMessage]) -> PendingDeliveries {
        let batch = DeliveryBatch(count: messages.count)
        var index = 0
        var rejection: KafkaError?
        while index < messages.count {
            guard lifecycle.isRunning else {
                rejection = .shutDown
                break
            }
            let box = Unmanaged.passRetained(DeliverySlot(batch: batch, index: index))
            let err = produce(messages[index], opaque: box.toOpaque())
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                box.release()
                // A full local queue (queue.buffering.max.*) fails this and every later message
                // as transient, without blocking this thread: the caller retries the suffix
                // later, in order.
                rejection = KafkaError.delivery(err)
                break
            }
            index += 1
        }
        if let rejection { batch.failRemaining(from: index, with: rejection) }
        return PendingDeliveries(batch: batch, accepted: index, rejection: rejection)
    }

    private func produce(_ message: OutgoingMessage, opaque: UnsafeMutableRawPointer) -> rd_kafka_resp_err_t {
        let list = rd_kafka_headers_new(message.headers.count)
        for header in message.headers {
            header.value.withUnsafeBytes { bytes in
                _ = rd_kafka_header_add(list, header.name, -1, bytes.baseAddress, bytes.count)
            }
        }
        let err = message.value.withUnsafeBytes { valueBytes in
            (message.key ?? []).withUnsafeBytes { keyBytes in
                crdkafka_produce(
                    client.handle, message.topic,
                    message.key == nil ? nil : keyBytes.baseAddress, message.key == nil ? 0 : keyBytes.count,
                    valueBytes.baseAddress, valueBytes.count,
                    list, opaque
                )
            }
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { rd_kafka_headers_destroy(list) }
        return err
    }

    /// The idempotent producer's fatal error, once librdkafka raised one (for example a
    /// sequence gap it cannot recover from). From then on nothing can be delivered: the owner
    /// should stop and start a new producer (a service exits and orderd restarts it).
    public var fatalError: KafkaError? {
        var errstr = [CChar](repeating: 0, count: 512)
        let err = rd_kafka_fatal_error(client.handle, &errstr, errstr.count)
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return .delivery(code: err.rawValue, reason: "fatal producer error: \(String(errorBuffer: errstr))", transient: false)
    }

    /// Raises a fatal error as librdkafka would (tests only).
    func raiseFatalErrorForTesting(_ reason: String) {
        _ = rd_kafka_test_fatal_error(client.handle, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason)
    }

    /// True when a broker answered a metadata request within `timeout`.
    public func brokerAnswers(timeout: Duration = .seconds(2)) async -> Bool {
        await BlockingThread.run(name: "kafka-metadata") { [client] in
            client.brokerAnswersBlocking(timeout: timeout)
        }
    }

    /// Waits until every message sent so far is delivered or `timeout` passes.
    /// - Returns: true when nothing is left in flight.
    @discardableResult
    public func flush(timeout: Duration) async -> Bool {
        await BlockingThread.run(name: "kafka-flush") { [client] in
            rd_kafka_flush(client.handle, Int32(timeout.milliseconds)) == RD_KAFKA_RESP_ERR_NO_ERROR
        }
    }

    /// Flushes for at most `timeout`, fails every message still undelivered, and stops the poll
    /// thread. Idempotent; later sends throw ``KafkaError/shutDown``.
    public func shutdown(timeout: Duration = .seconds(10)) async {
        guard lifecycle.isRunning else { return }
        let flushed = await flush(timeout: timeout)
        if !flushed {
            let left = rd_kafka_outq_len(client.handle)
            logger.warning("producer shutdown: \(left) messages not delivered in time; they fail and stay in the outbox")
            rd_kafka_purge(client.handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
        }
        await lifecycle.stopAndWait(timeout: .seconds(2))
    }
}

/// The delivery reports of one ``KafkaProducer/submit(_:)`` call, collected as librdkafka
/// serves them on the producer's poll thread.
///
/// Every message gets exactly one result: its report, its enqueue failure, or a failure from
/// ``KafkaProducer/shutdown(timeout:)`` (which fails whatever is undelivered), so the waits below
/// end within `message.timeout.ms` or a producer shutdown. They are not cancellable for that
/// reason: a result is never lost to a cancelled waiter. Sendable; may be awaited from any task.
public struct PendingDeliveries: Sendable {
    /// One message's result, with its index in the submitted array.
    public struct Settled: Sendable {
        public var index: Int
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

    /// Waits until at least one result that no earlier call returned is in, and returns all such
    /// results, sorted by index; returns an empty array once every result has been returned.
    /// Lets a caller act on the reports that are in while others (a partition without a leader)
    /// are still pending.
    /// - Precondition: one call at a time per handle (a second concurrent call traps).
    public func nextResults() async -> [Settled] {
        await batch.nextResults()
    }
}
