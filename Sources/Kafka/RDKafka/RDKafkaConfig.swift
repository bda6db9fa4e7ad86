internal import CRdKafka
import Foundation

/// librdkafka's configuration objects (`rd_kafka_conf_t`).
enum RDKafkaConfig {
    /// Checks every property against librdkafka on a scratch configuration, connecting nowhere.
    static func validate(_ properties: [KafkaProperty]) throws(KafkaError) {
        let conf = rd_kafka_conf_new()
        defer { rd_kafka_conf_destroy(conf) }
        try apply(properties, to: conf)
    }

    /// Sets `properties` in order; the first one librdkafka rejects throws, with a sensitive
    /// value redacted from librdkafka's message.
    static func apply(_ properties: [KafkaProperty], to conf: OpaquePointer?) throws(KafkaError) {
        for property in properties {
            var errstr = [CChar](repeating: 0, count: 512)
            let result = rd_kafka_conf_set(conf, property.name, property.value, &errstr, errstr.count)
            guard result == RD_KAFKA_CONF_OK else {
                var reason = String(errorBuffer: errstr)
                if property.isSensitive {
                    reason = reason.replacingOccurrences(of: property.value, with: "[redacted]")
                }
                throw .invalidProperty(property: property.name, source: property.source, reason: reason)
            }
        }
    }

    /// librdkafka's table of properties (`rd_kafka_conf_properties_show`), one per line.
    static func propertiesTable() -> String? {
        guard let text = crdkafka_properties_table() else { return nil }
        defer { free(text) }
        return String(cString: text)
    }
}
