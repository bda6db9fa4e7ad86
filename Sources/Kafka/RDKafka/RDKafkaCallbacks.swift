internal import CRdKafka
import Foundation
import Logging

/// The C callbacks librdkafka calls, each reaching its client's ``ClientContext`` through the
/// configuration's opaque pointer. They run on librdkafka's threads or on the poll thread.
enum RDKafkaCallbacks {
    static func install(on conf: OpaquePointer?, delivery: Bool, rebalance: Bool, statistics: Bool) {
        if delivery {
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
                guard let message, let opaque = message.pointee._private else { return }
                let slot = Unmanaged<DeliverySlot>.fromOpaque(opaque).takeRetainedValue()
                let err = message.pointee.err
                guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    slot.batch.complete(slot.index, with: .failure(KafkaError.delivery(err)))
                    return
                }
                slot.batch.complete(
                    slot.index,
                    with: .success(
                        DeliveryReport(
                            topic: String(cString: rd_kafka_topic_name(message.pointee.rkt)),
                            partition: message.pointee.partition,
                            offset: message.pointee.offset
                        )
                    )
                )
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
            context.logger.log(
                level: fatal ? .error : .warning,
                "kafka: \(text)",
                metadata: ["code": .stringConvertible(err)]
            )
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
                guard let rk, let partitions, let context = ClientContext.from(opaque),
                    let handler = context.rebalance
                else { return }
                RDKafkaRebalance.handle(rk, err, partitions, handler: handler, logger: context.logger)
            }
        }
    }
}

/// Assignment and revocation, on the consumer's poll thread (inside `rd_kafka_consumer_poll`).
enum RDKafkaRebalance {
    static func handle(
        _ rk: OpaquePointer,
        _ err: rd_kafka_resp_err_t,
        _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>,
        handler: RebalanceHandler,
        logger: Logger
    ) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        let set = Self.partitions(partitions)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            logger.info("partitions assigned: \(set.map(\.description).sorted().joined(separator: ", "))")
            if cooperative {
                _ = rd_kafka_incremental_assign(rk, partitions)
            } else {
                _ = rd_kafka_assign(rk, partitions)
            }
            let refused = RDKafkaClient.pause(handler.assigned(set), of: rk)
            if !refused.isEmpty { logger.warning("cannot pause newly assigned partitions: \(refused)") }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            // Lost (session timed out: the coordinator is unreachable; fenced), not given up.
            if rd_kafka_assignment_lost(rk) != 0 {
                handler.membershipLost("lost its group membership and assignment; rejoining")
            }
            handler.revoking(set)
            let commit = rd_kafka_commit(rk, nil, 0)
            if commit != RD_KAFKA_RESP_ERR_NO_ERROR, commit != RD_KAFKA_RESP_ERR__NO_OFFSET {
                logger.warning("commit on revocation failed: \(KafkaError.text(commit))")
            }
            logger.info("partitions revoked: \(set.map(\.description).sorted().joined(separator: ", "))")
            if cooperative {
                _ = rd_kafka_incremental_unassign(rk, partitions)
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
        default:
            logger.error("rebalance error: \(KafkaError.text(err))")
            handler.membershipLost("rebalance error: \(KafkaError.text(err)); rejoining")
            handler.revoking(set)
            _ = rd_kafka_assign(rk, nil)
        }
    }

    static func partitions(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Set<TopicPartition> {
        let count = Int(list.pointee.cnt)
        return Set(
            (0..<count).map { index in
                let element = list.pointee.elems[index]
                return TopicPartition(topic: String(cString: element.topic), partition: element.partition)
            }
        )
    }
}
