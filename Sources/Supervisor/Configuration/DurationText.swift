import Foundation

/// A duration as the configuration writes it: `"100ms"`, `"2s"`, `"1m"`, `"1h"`, also `"1m30s"`
/// and `"1.5s"` (units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), or a TOML integer number of
/// seconds. Always longer than zero.
struct DurationText: ConfigurationValue {
    static let expected = "a duration like \"2s\" or an integer number of seconds"
    var value: Duration

    init(from decoder: any Decoder) throws {
        if let seconds = try? Int(from: decoder) {
            guard seconds > 0 else {
                throw decoder.invalid("\(seconds) must be a positive duration (an integer means seconds)")
            }
            guard seconds <= Int.max / 1_000_000_000 else { throw decoder.invalid("\(seconds) seconds is too long") }
            value = .seconds(seconds)
            return
        }
        let text = try String(from: decoder)
        guard let parsed = Self.parse(text) else {
            throw decoder.invalid(
                """
                "\(text)" is not a duration; write a positive number with a unit, like "100ms", "2s", "1m" \
                or "1h" (or an integer number of seconds)
                """
            )
        }
        guard parsed > .zero else { throw decoder.invalid("must be longer than zero") }
        value = parsed
    }

    static func toml(_ value: Duration) -> String { SupervisorConfiguration.quote(format(value)) }

    private static let nanoseconds: [Substring: Int64] = [
        "ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
        "h": 3_600_000_000_000,
    ]

    /// Parses `text`; nil when it is not a duration (a sign, a missing unit, an unknown unit,
    /// or more than about 292 years). Decimal keeps fractions exact (`"0.1s"` is 100ms).
    static func parse(_ text: String) -> Duration? {
        var rest = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
        guard !rest.isEmpty else { return nil }
        var total = Decimal.zero
        while let match = rest.prefixMatch(of: /([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)/),
            let number = Decimal(string: String(match.1))
        {
            total += number * Decimal(nanoseconds[match.2]!)
            rest = rest[match.range.upperBound...]
        }
        guard rest.isEmpty, total <= Decimal(Int64.max) else { return nil }
        return .nanoseconds(NSDecimalNumber(decimal: total).int64Value)
    }

    /// The shortest exact form in one unit: 100ms, 2s, 90s, 1m, 1h (and us/ns when needed).
    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let total = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        if total == 0 { return "0s" }
        let units: [Substring] = ["h", "m", "s", "ms", "us"]
        guard let unit = units.first(where: { total % nanoseconds[$0]! == 0 }) else { return "\(total)ns" }
        return "\(total / nanoseconds[unit]!)\(unit)"
    }
}
