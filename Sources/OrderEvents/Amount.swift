import Foundation

/// An exact money amount with at most two decimal places, held as an integer count of
/// minor units (cents) so that no binary floating point ever touches it.
///
/// On the wire (events) it is a decimal string such as `"42.00"`; `description` gives the
/// same text. Two amounts are equal when their minor units are equal (`42` == `42.0`).
public struct Amount: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The amount in minor units (hundredths).
    public let minorUnits: Int64

    /// The largest accepted amount: 10^15 minor units, far below `Int64.max` so sums never overflow.
    public static let maximum = Amount(uncheckedMinorUnits: 1_000_000_000_000_000)

    public init(uncheckedMinorUnits: Int64) {
        self.minorUnits = uncheckedMinorUnits
    }

    /// Parses decimal text such as `42`, `42.5`, `0.01`. Returns nil for anything that is not a
    /// plain non-negative decimal with at most two fraction digits, or that exceeds ``maximum``.
    public init?(exactly text: String) {
        guard let parsed = Self.parse(text) else { return nil }
        self = parsed
    }

    /// Converts a Foundation `Decimal` exactly; nil when it has more than two decimal places,
    /// is negative, NaN, or exceeds ``maximum``.
    public init?(exactly decimal: Decimal) {
        guard decimal.isFinite, !decimal.isSignMinus || decimal.isZero else { return nil }
        var scaled = decimal * 100
        var rounded = Decimal()
        NSDecimalRound(&rounded, &scaled, 0, .plain)
        guard rounded == scaled, rounded <= Decimal(Self.maximum.minorUnits) else { return nil }
        self.minorUnits = NSDecimalNumber(decimal: rounded).int64Value
    }

    public var decimal: Decimal {
        Decimal(minorUnits) / 100
    }

    public var description: String {
        let units = minorUnits / 100
        let cents = minorUnits % 100
        return "\(units).\(cents < 10 ? "0" : "")\(cents)"
    }

    public static func < (lhs: Amount, rhs: Amount) -> Bool { lhs.minorUnits < rhs.minorUnits }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let amount = Amount(exactly: text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "amount \"\(text)\" is not a decimal with at most two places"
            )
        }
        self = amount
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static func parse(_ text: String) -> Amount? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 14, // 14 digits: maximum is 10^13 units
              whole.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.count <= 2, fraction.allSatisfy({ $0.isASCII && $0.isNumber }),
              parts.count == 1 || !fraction.isEmpty else { return nil }
        while fraction.count < 2 { fraction += "0" }
        guard let units = Int64(whole), let cents = Int64(fraction) else { return nil }
        let total = units * 100 + cents
        guard total <= maximum.minorUnits else { return nil }
        return Amount(uncheckedMinorUnits: total)
    }
}
