import Foundation

/// An exact money amount with at most two decimal places, held as an integer count of
/// minor units (cents) so that no binary floating point ever touches it.
///
/// On the wire (events) it is a decimal string such as `"42.00"`; `description` gives the
/// same text. Two amounts are equal when their minor units are equal (`42` == `42.0`).
/// The validating initialisers and the decoder accept only amounts from zero to ``maximum``.
public struct Amount: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// The amount in minor units (hundredths).
    public let minorUnits: Int64

    /// The largest accepted amount: 10^15 minor units, far below `Int64.max` so sums never overflow.
    public static let maximum = Amount(uncheckedMinorUnits: 1_000_000_000_000_000)

    /// Wraps minor units as they are, without any check: for values that were validated when
    /// they entered the system (a database column, a constant). A negative or over-``maximum``
    /// value is not rejected here, and its ``description`` is not a valid wire amount.
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

    /// The exact value as a Foundation `Decimal` (minor units / 100, no rounding).
    public var decimal: Decimal {
        Decimal(minorUnits) / 100
    }

    /// The wire form: whole units, a dot and exactly two fraction digits (`"42.00"`, `"0.05"`),
    /// no sign, no grouping. The format is part of the event schema and stays stable;
    /// ``init(exactly:)-(String)`` reads it back to the same amount.
    public var description: String {
        let units = minorUnits / 100
        let cents = minorUnits % 100
        return "\(units).\(cents < 10 ? "0" : "")\(cents)"
    }

    /// Orders amounts by value (their minor units).
    public static func < (lhs: Amount, rhs: Amount) -> Bool { lhs.minorUnits < rhs.minorUnits }

    /// Decodes the wire form: a JSON string that ``init(exactly:)-(String)`` accepts.
    /// A JSON number throws `DecodingError.typeMismatch` (amounts never travel as binary
    /// floating point); a string with a sign, more than two decimals or above ``maximum``
    /// throws `DecodingError.dataCorrupted`.
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

    /// Encodes ``description`` as a JSON string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static func parse(_ text: String) -> Amount? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 14,  // 14 digits: maximum is 10^13 units
            whole.allSatisfy({ $0.isASCII && $0.isNumber })
        else { return nil }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.count <= 2, fraction.allSatisfy({ $0.isASCII && $0.isNumber }),
            parts.count == 1 || !fraction.isEmpty
        else { return nil }
        while fraction.count < 2 { fraction += "0" }
        guard let units = Int64(whole), let cents = Int64(fraction) else { return nil }
        let total = units * 100 + cents
        guard total <= maximum.minorUnits else { return nil }
        return Amount(uncheckedMinorUnits: total)
    }
}
