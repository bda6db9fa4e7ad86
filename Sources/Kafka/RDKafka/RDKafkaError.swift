internal import CRdKafka

extension KafkaError {
    /// The error for a librdkafka result code; transient unless ``KafkaError/publishFailure``
    /// lists the code as the message's own fault or the client's.
    static func delivery(_ err: rd_kafka_resp_err_t) -> KafkaError {
        .delivery(code: err.rawValue, reason: KafkaError.text(err), transient: isTransient(code: err.rawValue))
    }

    /// librdkafka's name of a result code, without `RD_KAFKA_RESP_ERR_` (`MSG_SIZE_TOO_LARGE`).
    static func name(code: Int32) -> String {
        String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: code)))
    }

    /// librdkafka's text for a result code.
    static func text(_ err: rd_kafka_resp_err_t) -> String {
        String(cString: rd_kafka_err2str(err))
    }
}

extension String {
    /// The text librdkafka wrote into a NUL-terminated error buffer.
    init(errorBuffer: [CChar]) {
        self.init(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
