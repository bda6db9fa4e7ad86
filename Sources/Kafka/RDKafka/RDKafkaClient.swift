internal import CRdKafka
import Foundation
import Logging

/// Owns one `rd_kafka_t` handle and the callbacks wired to it: the only way the rest of the
/// module reaches a librdkafka client.
///
/// Thread-safety: produce, offsets_store, metadata, commit, flush, purge and the fatal-error
/// query are documented thread-safe by librdkafka and may be called from any thread;
/// ``poll(milliseconds:)``, ``consumerPoll(milliseconds:)`` and ``closeConsumer()`` must be
/// called from the owner's one poll thread. Calls never block unless their name or
/// documentation says so (those run on ``BlockingPool`` or the poll thread).
final class RDKafkaClient: Sendable {
    enum Kind: Sendable {
        case producer
        case consumer
    }

    /// Used only by the files of this folder (the RDKafka layer).
    let handle: SendableOpaquePointer
    let context: ClientContext

    init(
        kind: Kind,
        configuration: KafkaClientConfiguration,
        defaults: [KafkaProperty],
        context: ClientContext
    ) throws(KafkaError) {
        let conf = rd_kafka_conf_new()
        var properties =
            [
                KafkaProperty(
                    name: "bootstrap.servers",
                    value: configuration.bootstrapServers,
                    source: "KAFKA_BROKERS"
                ),
                KafkaProperty(name: "client.id", value: configuration.clientId, source: "SERVICE_NAME"),
                // Requests are small and latency-bound (one order's event per hop): Nagle's algorithm
                // would hold a request back until the previous one is acknowledged.
                KafkaProperty(name: "socket.nagle.disable", value: "true", source: "default"),
            ] + defaults
        if let interval = configuration.statisticsInterval {
            properties.append(
                KafkaProperty(name: "statistics.interval.ms", value: String(interval.milliseconds), source: "default")
            )
        }
        properties += configuration.properties.filter { PropertyScope.applies($0, toConsumer: kind == .consumer) }
        do {
            try RDKafkaConfig.apply(properties, to: conf)
        } catch {
            rd_kafka_conf_destroy(conf)
            throw error
        }
        // Released in deinit, after rd_kafka_destroy has stopped every callback that reads it.
        let unmanaged = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(conf, unmanaged.toOpaque())
        RDKafkaCallbacks.install(
            on: conf,
            delivery: kind == .producer,
            rebalance: context.rebalance != nil,
            statistics: configuration.statisticsInterval != nil
        )

        var errstr = [CChar](repeating: 0, count: 512)
        // rd_kafka_new takes ownership of conf only on success.
        let type = kind == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            unmanaged.release()
            throw .clientCreation(reason: String(errorBuffer: errstr))
        }
        self.handle = SendableOpaquePointer(handle)
        self.context = context
        context.logger.debug(
            "kafka client created",
            metadata: ["properties": .string(properties.map(\.redacted).joined(separator: ", "))]
        )
    }

    deinit {
        rd_kafka_destroy(handle.pointer)
        Unmanaged.passUnretained(context).release()
    }

    // MARK: any client

    /// Serves queued callbacks (delivery reports, logs, statistics) for up to `milliseconds`.
    /// Poll thread only.
    func poll(milliseconds: Int32) {
        rd_kafka_poll(handle.pointer, milliseconds)
    }

    /// Asks the cluster for metadata; true when a broker answered within `timeout`. Blocking:
    /// call it on ``BlockingPool``, never on the cooperative pool.
    func brokerAnswersBlocking(timeout: Duration) -> Bool {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle.pointer, 0, nil, &metadata, Int32(timeout.milliseconds))
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        return err == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    // MARK: producer

    /// Enqueues one message (copied) without blocking; `slot` receives its delivery report on
    /// the poll thread. Returns nil when enqueued, or why it was not (then `slot` is never used).
    func produce(_ message: OutgoingMessage, slot: DeliverySlot) -> KafkaError? {
        let opaque = Unmanaged.passRetained(slot)
        let list = rd_kafka_headers_new(message.headers.count)
        for header in message.headers {
            header.value.withUnsafeBytes { bytes in
                _ = rd_kafka_header_add(list, header.name, -1, bytes.baseAddress, bytes.count)
            }
        }
        let err = message.value.withUnsafeBytes { valueBytes in
            (message.key ?? []).withUnsafeBytes { keyBytes in
                crdkafka_produce(
                    handle.pointer,
                    message.topic,
                    message.key == nil ? nil : keyBytes.baseAddress,
                    message.key == nil ? 0 : keyBytes.count,
                    valueBytes.baseAddress,
                    valueBytes.count,
                    list,
                    opaque.toOpaque()
                )
            }
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_headers_destroy(list)
            opaque.release()
            return KafkaError.delivery(err)
        }
        return nil
    }

    /// Fails every queued and in-flight message; their reports are served by the next polls.
    func purgeQueuedAndInFlight() {
        rd_kafka_purge(handle.pointer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
    }

    /// Fails every queued and in-flight message and serves those delivery reports (polling for
    /// at most 5 s), so that no sender waits for a report that would never come. Blocking; from
    /// the poll thread, or from ``BlockingPool`` (librdkafka serves reports on any polling thread).
    func failUndeliveredBlocking() {
        purgeQueuedAndInFlight()
        var rounds = 0
        while outQueueLength > 0, rounds < 100 {
            poll(milliseconds: 50)
            rounds += 1
        }
    }

    /// Messages (and requests) not yet delivered or reported.
    var outQueueLength: Int32 {
        rd_kafka_outq_len(handle.pointer)
    }

    /// Blocks until everything produced so far is reported or `timeout` passes. Blocking.
    func flushBlocking(timeout: Duration) -> Bool {
        rd_kafka_flush(handle.pointer, Int32(timeout.milliseconds)) == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    /// The idempotent producer's fatal error, once librdkafka raised one.
    var fatalError: KafkaError? {
        var errstr = [CChar](repeating: 0, count: 512)
        let err = rd_kafka_fatal_error(handle.pointer, &errstr, errstr.count)
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return .delivery(
            code: err.rawValue,
            reason: "fatal producer error: \(String(errorBuffer: errstr))",
            transient: false
        )
    }

    /// Raises a fatal error as librdkafka would on an out-of-order sequence (tests only).
    func raiseFatalError(reason: String) {
        _ = rd_kafka_test_fatal_error(handle.pointer, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason)
    }
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

extension Logger.Level {
    /// librdkafka logs with syslog levels (0 emergency ... 7 debug).
    init(syslog level: Int32) {
        switch level {
        case ...3: self = .error
        case 4: self = .warning
        case 5: self = .notice
        case 6: self = .info
        default: self = .debug
        }
    }
}
