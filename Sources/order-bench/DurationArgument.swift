import ArgumentParser

/// A command-line duration: an integer with a unit, `500ms`, `30s`, `2m`, `1h`, or a sum such as
/// `1m30s`. A bare number is seconds. Never negative.
struct DurationArgument: ExpressibleByArgument, Sendable, Hashable, CustomStringConvertible {
    let duration: Duration
    private let text: String

    init(_ duration: Duration, text: String) {
        self.duration = duration
        self.text = text
    }

    init?(argument: String) {
        guard let duration = Self.parse(argument) else { return nil }
        self.init(duration, text: argument)
    }

    var description: String { text }
    var defaultValueDescription: String { text }

    private static func parse(_ text: String) -> Duration? {
        if let seconds = Int(text), seconds >= 0 { return .seconds(seconds) }
        var total = Duration.zero
        var rest = Substring(text)
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let value = Int(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "ms": total += .milliseconds(value)
            case "s": total += .seconds(value)
            case "m": total += .seconds(value * 60)
            case "h": total += .seconds(value * 3600)
            default: return nil
            }
        }
        return text.isEmpty ? nil : total
    }
}
