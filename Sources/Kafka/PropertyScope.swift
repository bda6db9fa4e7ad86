import Foundation

/// Which kind of client a librdkafka property applies to, as the linked librdkafka documents
/// it (the `C/P` column of librdkafka's property table, the table CONFIGURATION.md is made
/// from).
///
/// The services share one list of `KAFKA_*` pass-through properties between their producer
/// and their consumer; a consumer property set on a producer (or the reverse) is ignored by
/// librdkafka with a `CONFWARN` warning at every start, so each client is given only its own.
enum PropertyScope: Sendable {
    case consumer
    case producer
    case both

    /// The scope of `name`; nil for a name librdkafka does not list (it rejects it when set).
    static func of(_ name: String) -> PropertyScope? {
        table[name]
    }

    /// Whether `property` belongs on a consumer (`consumer` true) or a producer. Unknown
    /// names are kept, so that librdkafka reports them.
    static func applies(_ property: KafkaProperty, toConsumer consumer: Bool) -> Bool {
        switch of(property.name) {
        case .consumer: consumer
        case .producer: !consumer
        case .both, nil: true
        }
    }

    /// Read once from librdkafka: lines such as `fetch.wait.max.ms  |  C  | 0 .. 300000 | …`.
    private static let table: [String: PropertyScope] = {
        guard let text = RDKafkaConfig.propertiesTable() else { return [:] }
        var scopes: [String: PropertyScope] = [:]
        for line in text.split(separator: "\n") {
            let columns = line.split(separator: "|", omittingEmptySubsequences: false)
            guard columns.count > 2 else { continue }
            let name = columns[0].trimmingCharacters(in: .whitespaces)
            switch columns[1].trimmingCharacters(in: .whitespaces) {
            case "C": scopes[name] = .consumer
            case "P": scopes[name] = .producer
            case "*": scopes[name] = .both
            default: continue
            }
        }
        return scopes
    }()
}
