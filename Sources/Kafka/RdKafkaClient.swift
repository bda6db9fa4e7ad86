import CRdKafka
import Foundation
import Logging

/// Owns one `rd_kafka_t` handle and the callbacks wired to it.
///
/// `@unchecked Sendable` is safe because `handle` and `context` are immutable after `init`, and
/// the librdkafka calls made through `handle` from several threads (produce, offsets_store,
/// metadata, commit) are documented thread-safe; `rd_kafka_consumer_poll` and `rd_kafka_poll`
/// are called from exactly one poll thread owned by the producer or consumer.
final class RdKafkaClient: @unchecked Sendable {
    let handle: OpaquePointer
    let context: ClientContext
    private let unmanagedContext: Unmanaged<ClientContext>

    init(
        type: rd_kafka_type_t,
        configuration: KafkaClientConfiguration,
        defaults: [KafkaProperty],
        context: ClientContext
    ) throws(KafkaError) {
        let conf = rd_kafka_conf_new()
        var properties = [
            KafkaProperty(name: "bootstrap.servers", value: configuration.bootstrapServers, source: "KAFKA_BROKERS"),
            KafkaProperty(name: "client.id", value: configuration.clientId, source: "SERVICE_NAME"),
            // Requests are small and latency-bound (one order's event per hop): Nagle's algorithm
            // would hold a request back until the previous one is acknowledged.
            KafkaProperty(name: "socket.nagle.disable", value: "true", source: "default"),
        ] + defaults
        if let interval = configuration.statisticsInterval {
            properties.append(KafkaProperty(name: "statistics.interval.ms", value: String(interval.milliseconds), source: "default"))
        }
        properties += configuration.properties.filter { PropertyScope.applies($0, toConsumer: type == RD_KAFKA_CONSUMER) }
        do {
            try KafkaClientConfiguration.apply(properties, to: conf)
        } catch {
            rd_kafka_conf_destroy(conf)
            throw error
        }
        let unmanaged = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(conf, unmanaged.toOpaque())
        Self.installCallbacks(
            conf, delivery: type == RD_KAFKA_PRODUCER, rebalance: context.rebalance != nil,
            statistics: configuration.statisticsInterval != nil
        )

        var errstr = [CChar](repeating: 0, count: 512)
        // rd_kafka_new takes ownership of conf only on success.
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            unmanaged.release()
            throw .clientCreation(reason: String(errorBuffer: errstr))
        }
        self.handle = handle
        self.context = context
        self.unmanagedContext = unmanaged
        context.logger.debug(
            "kafka client created",
            metadata: ["properties": .string(properties.map(\.redacted).joined(separator: ", "))]
        )
    }

    deinit {
        rd_kafka_destroy(handle)
        unmanagedContext.release()
    }

    /// Asks the cluster for metadata; true when a broker answered within `timeout`. Blocking:
    /// call it from a dedicated thread, never from the cooperative pool.
    func brokerAnswersBlocking(timeout: Duration) -> Bool {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 0, nil, &metadata, Int32(timeout.milliseconds))
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        return err == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    private static func installCallbacks(_ conf: OpaquePointer?, delivery: Bool, rebalance: Bool, statistics: Bool) {
        if delivery {
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
                guard let message, let opaque = message.pointee._private else { return }
                let slot = Unmanaged<DeliverySlot>.fromOpaque(opaque).takeRetainedValue()
                let err = message.pointee.err
                guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    slot.batch.complete(slot.index, with: .failure(KafkaError.delivery(err)))
                    return
                }
                slot.batch.complete(slot.index, with: .success(DeliveryReport(
                    topic: String(cString: rd_kafka_topic_name(message.pointee.rkt)),
                    partition: message.pointee.partition,
                    offset: message.pointee.offset
                )))
            }
        }
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            guard let context = ClientContext.from(rd_kafka_opaque(rk)) else { return }
            let text = message.map { String(cString: $0) } ?? ""
            let fac = facility.map { String(cString: $0) } ?? ""
            // Connection failures are retried by librdkafka and are routine while a broker
            // restarts: a warning, not an error.
            let severity = fac == "FAIL" ? Logger.Level.warning : Logger.Level(syslog: level)
            context.logger.log(level: severity, "librdkafka: \(text)", metadata: ["facility": .string(fac)])
        }
        rd_kafka_conf_set_error_cb(conf) { _, err, reason, opaque in
            // Transport errors are already logged (once per broker state change) by the log
            // callback; repeating them here only doubles the noise.
            guard err != RD_KAFKA_RESP_ERR__TRANSPORT.rawValue, let context = ClientContext.from(opaque) else { return }
            let text = reason.map { String(cString: $0) } ?? KafkaError.text(rd_kafka_resp_err_t(err))
            // Broker transport errors are retried by librdkafka itself; they are worth a warning,
            // not an error, unless they are fatal.
            let fatal = rd_kafka_resp_err_t(err) == RD_KAFKA_RESP_ERR__FATAL
            context.logger.log(level: fatal ? .error : .warning, "kafka: \(text)", metadata: ["code": .stringConvertible(err)])
        }
        if statistics {
            rd_kafka_conf_set_stats_cb(conf) { _, json, length, opaque in
                guard let context = ClientContext.from(opaque), let json else { return 0 }
                let data = Data(bytes: json, count: length)
                context.statistics.record(json: data)
                return 0
            }
        }
        if rebalance {
            rd_kafka_conf_set_rebalance_cb(conf) { rk, err, partitions, opaque in
                guard let rk, let partitions, let context = ClientContext.from(opaque) else { return }
                context.rebalance?(rk, err, partitions)
            }
        }
    }
}

/// A thread that is not part of Swift's cooperative pool, for blocking librdkafka calls.
enum BlockingThread {
    /// Runs `body` on a new dedicated thread and returns its result.
    static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: body())
            }
            thread.name = name
            thread.start()
        }
    }

    /// Starts a long-running loop on its own named thread.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
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
