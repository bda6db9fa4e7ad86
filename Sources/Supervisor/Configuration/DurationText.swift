/// Durations as the configuration writes them: `"100ms"`, `"2s"`, `"1m"`, `"1h"`, also
/// `"1m30s"` and `"1.5s"`; units `ns`, `us`, `ms`, `s`, `m`, `h`. A TOML integer means seconds.
public enum DurationText {
    private static let units: [(suffix: String, nanoseconds: Int64)] = [
        ("ns", 1), ("us", 1_000), ("µs", 1_000), ("ms", 1_000_000),
        ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
    ]

    /// Parses `text`; nil when it is not a duration (a sign, a missing unit, an unknown unit,
    /// or more than about 292 years).
    public static func parse(_ text: String) -> Duration? {
        let scalars = Array(trimmed(text).unicodeScalars)
        guard !scalars.isEmpty else { return nil }
        var index = 0
        var total: Int64 = 0
        while index < scalars.count {
            // number: digits, optionally '.' digits
            var whole = ""
            while index < scalars.count, ("0"..."9").contains(scalars[index]) {
                whole.unicodeScalars.append(scalars[index]); index += 1
            }
            var fraction = ""
            if index < scalars.count, scalars[index] == "." {
                index += 1
                while index < scalars.count, ("0"..."9").contains(scalars[index]) {
                    fraction.unicodeScalars.append(scalars[index]); index += 1
                }
                guard !fraction.isEmpty else { return nil }
            }
            guard !whole.isEmpty || !fraction.isEmpty else { return nil }
            var unit = ""
            while index < scalars.count, !("0"..."9").contains(scalars[index]), scalars[index] != "." {
                unit.unicodeScalars.append(scalars[index]); index += 1
            }
            guard let scale = units.first(where: { $0.suffix == unit })?.nanoseconds else { return nil }
            guard let wholeValue = Int64(whole.isEmpty ? "0" : whole) else { return nil }
            let (wholeNanos, overflow1) = wholeValue.multipliedReportingOverflow(by: scale)
            guard !overflow1 else { return nil }
            var fractionNanos: Int64 = 0
            if !fraction.isEmpty {
                // fraction × scale / 10^digits, using at most 18 digits
                let digits = String(fraction.prefix(18))
                guard let numerator = Int64(digits) else { return nil }
                var denominator: Int64 = 1
                for _ in 0..<digits.count { denominator *= 10 }
                let product = numerator.multipliedFullWidth(by: scale)
                let (quotient, _) = denominator.dividingFullWidth(product)
                fractionNanos = quotient
            }
            let (sum1, overflow2) = total.addingReportingOverflow(wholeNanos)
            let (sum2, overflow3) = sum1.addingReportingOverflow(fractionNanos)
            guard !overflow2, !overflow3 else { return nil }
            total = sum2
        }
        return .nanoseconds(total)
    }

    /// The shortest exact form in one unit: 100ms, 2s, 90s, 1m, 1h (and us/ns when needed).
    public static func format(_ duration: Duration) -> String {
        let nanoseconds = totalNanoseconds(duration)
        if nanoseconds == 0 { return "0s" }
        for (suffix, scale) in [("h", Int64(3_600_000_000_000)), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)]
        where nanoseconds % scale == 0 {
            return "\(nanoseconds / scale)\(suffix)"
        }
        return "\(nanoseconds)ns"
    }

    /// `text` without leading and trailing whitespace.
    static func trimmed(_ text: String) -> String {
        var scalars = Substring(text)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }

    static func totalNanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
