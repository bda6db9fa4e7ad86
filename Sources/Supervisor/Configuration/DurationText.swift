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
    /// or more than about 292 years).
    static func parse(_ text: String) -> Duration? {
        let text = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
        var rest = text[...]
        var total: Int64 = 0
        while !rest.isEmpty {
            guard let match = rest.prefixMatch(of: /([0-9]*)(?:\.([0-9]+))?(ns|us|µs|ms|s|m|h)/),
                !(match.1.isEmpty && match.2 == nil), let scale = nanoseconds[match.3],
                let whole = Int64(match.1.isEmpty ? "0" : match.1)
            else { return nil }
            var (sum, overflow) = whole.multipliedReportingOverflow(by: scale)
            if let fraction = match.2 {
                // fraction × scale / 10^digits, exactly, from at most 18 digits
                let digits = fraction.prefix(18)
                let product = Int64(digits)!.multipliedFullWidth(by: scale)
                let part = Int64(pow(10, Double(digits.count))).dividingFullWidth(product).quotient
                (sum, overflow) = overflow ? (0, true) : sum.addingReportingOverflow(part)
            }
            let next = total.addingReportingOverflow(sum)
            guard !overflow, !next.overflow else { return nil }
            total = next.partialValue
            rest = rest[match.range.upperBound...]
        }
        return text.isEmpty ? nil : .nanoseconds(total)
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
