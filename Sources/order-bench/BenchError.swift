/// Why a run could not produce a result (as opposed to a result that fails verification).
enum BenchError: Error, Sendable, CustomStringConvertible {
    /// The hosted platform did not start or stop as it should; `log` is orderd's output.
    case platform(String, log: String?)
    case kafka(String)
    case http(String)
    case interrupted(signal: String)

    var description: String {
        switch self {
        case .platform(let message, let log):
            log.map { "\(message) (orderd's log: \($0))" } ?? message
        case .kafka(let message): "Kafka: \(message)"
        case .http(let message): "order API: \(message)"
        case .interrupted(let signal): "interrupted by \(signal)"
        }
    }
}
