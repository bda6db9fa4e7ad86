internal import CRdKafka

extension KafkaError {
    /// The error for a librdkafka result code; transient unless retrying cannot help.
    static func delivery(_ err: rd_kafka_resp_err_t) -> KafkaError {
        let fatal: Set<rd_kafka_resp_err_t> = [
            RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
            RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR__FATAL,
            RD_KAFKA_RESP_ERR_INVALID_RECORD, RD_KAFKA_RESP_ERR__INVALID_ARG,
        ]
        return .delivery(code: err.rawValue, reason: KafkaError.text(err), transient: !fatal.contains(err))
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
