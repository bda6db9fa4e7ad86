import Foundation
import Testing
@testable import OrderEvents

@Suite("Amount")
struct AmountTests {
    // MARK: Parsing text

    @Test(
        "parses plain decimals into minor units",
        arguments: [
            ("42", Int64(4200)), ("42.5", 4250), ("42.50", 4250), ("42.0", 4200), ("42.00", 4200),
            ("0.01", 1), ("0.1", 10), ("0", 0), ("0.00", 0), ("007.05", 705), ("19.99", 1999),
            ("1000000", 100_000_000),
        ]
    )
    func parses(text: String, minorUnits: Int64) throws {
        let amount = try #require(Amount(exactly: text))
        #expect(amount.minorUnits == minorUnits)
    }

    @Test(
        "rejects anything that is not a plain non-negative decimal with at most two places",
        arguments: [
            "42.001", "0.001", "-1", "-0.01", "+5", "1e3", "1E3", "", ".5", "5.", ".", " 5", "5 ", "4 2",
            "42,50", "42.5.0", "4..2", "0x10", "abc", "NaN", "inf", "١٢", "４２", "42.٥", "42.-1", "42.+1",
        ]
    )
    func rejects(text: String) {
        #expect(Amount(exactly: text) == nil, "accepted \(text.debugDescription)")
    }

    @Test("accepts exactly up to the maximum")
    func maximumBoundary() throws {
        #expect(Amount.maximum.minorUnits == 1_000_000_000_000_000)
        #expect(Amount(exactly: "10000000000000") == .maximum)
        #expect(Amount(exactly: "10000000000000.00") == .maximum)
        #expect(Amount(exactly: "9999999999999.99")?.minorUnits == 999_999_999_999_999)
        // The maximum's own text form must parse back (it is what gets written on the wire).
        #expect(Amount(exactly: Amount.maximum.description) == .maximum)
    }

    @Test(
        "rejects amounts over the maximum without overflowing",
        arguments: [
            "10000000000000.01", "10000000000001", "99999999999999.99", "100000000000000",
            "9223372036854775807", "92233720368547758.07", "99999999999999999999999999",
        ]
    )
    func rejectsOverMaximum(text: String) {
        #expect(Amount(exactly: text) == nil)
    }

    // MARK: Decimal

    @Test(
        "converts Decimal exactly",
        arguments: [
            ("19.99", Int64(1999)), ("0.01", 1), ("42", 4200), ("42.5", 4250), ("19.990000", 1999),
            ("0", 0), ("10000000000000", 1_000_000_000_000_000), ("9999999999999.99", 999_999_999_999_999),
            ("123456789.12", 12_345_678_912),
        ]
    )
    func fromDecimal(text: String, minorUnits: Int64) throws {
        let decimal = try #require(Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")))
        let amount = try #require(Amount(exactly: decimal))
        #expect(amount.minorUnits == minorUnits)
        #expect(amount.decimal == decimal)
    }

    @Test("sums of decimal fractions stay exact (no binary floating point)")
    func decimalSumsStayExact() throws {
        let sum = try #require(Decimal(string: "0.1")) + (try #require(Decimal(string: "0.2")))
        #expect(Amount(exactly: sum)?.minorUnits == 30)
        #expect(Amount(exactly: sum) == Amount(exactly: "0.3"))

        var cents = Decimal(0)
        for _ in 0..<1000 { cents += try #require(Decimal(string: "0.01")) }
        #expect(Amount(exactly: cents)?.minorUnits == 1000)

        let price = try #require(Decimal(string: "19.99"))
        #expect(Amount(exactly: price * 3)?.minorUnits == 5997)
        #expect(Amount(exactly: price * 3)?.description == "59.97")
    }

    @Test(
        "rejects Decimals that are negative, too precise, NaN or too large",
        arguments: [
            "-0.01", "-1", "19.999", "0.001", "1e-30", "10000000000000.01", "1e20",
        ]
    )
    func rejectsDecimal(text: String) throws {
        let decimal = try #require(Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")))
        #expect(Amount(exactly: decimal) == nil, "accepted \(text)")
    }

    @Test("rejects NaN")
    func rejectsNaN() {
        #expect(Amount(exactly: Decimal.nan) == nil)
    }

    @Test(
        "decimal value is exact",
        arguments: [Int64(0), 1, 5, 10, 99, 1999, 4250, 123_456_789_012, 1_000_000_000_000_000]
    )
    func decimalValue(minorUnits: Int64) {
        let amount = Amount(uncheckedMinorUnits: minorUnits)
        #expect(amount.decimal * 100 == Decimal(minorUnits))
        #expect(Amount(exactly: amount.decimal) == amount)
    }

    // MARK: Description

    @Test(
        "description has two fraction digits",
        arguments: [
            (Int64(4200), "42.00"), (5, "0.05"), (0, "0.00"), (1, "0.01"), (10, "0.10"), (99, "0.99"),
            (100, "1.00"), (4250, "42.50"), (1999, "19.99"), (100_000_000, "1000000.00"),
            (1_000_000_000_000_000, "10000000000000.00"),
        ]
    )
    func description(minorUnits: Int64, text: String) {
        #expect(Amount(uncheckedMinorUnits: minorUnits).description == text)
        #expect(String(describing: Amount(uncheckedMinorUnits: minorUnits)) == text)
    }

    @Test("description parses back to the same amount")
    func descriptionRoundTrip() {
        var failures: [Int64] = []
        for units in Array(Int64(0)...1_234) + [999_999, 1_000_000_007, 999_999_999_999_999, Amount.maximum.minorUnits]
        {
            let amount = Amount(uncheckedMinorUnits: units)
            if Amount(exactly: amount.description) != amount { failures.append(units) }
        }
        #expect(failures.count == 0, "did not round trip: \(Array(failures.prefix(5)))")
    }

    // MARK: Equality and ordering

    @Test("equality and hashing follow minor units")
    func equality() throws {
        let a = try #require(Amount(exactly: "42"))
        let b = try #require(Amount(exactly: "42.0"))
        let c = try #require(Amount(exactly: "42.00"))
        #expect(a == b && b == c)
        #expect(Set([a, b, c]).count == 1)
        #expect(a != Amount(exactly: "42.01"))
    }

    @Test("ordering follows minor units")
    func ordering() throws {
        let values = try ["10", "9.99", "0.01", "100", "0", "10.5"].map { try #require(Amount(exactly: $0)) }
        #expect(values.sorted().map(\.description) == ["0.00", "0.01", "9.99", "10.00", "10.50", "100.00"])
        #expect(Amount(uncheckedMinorUnits: 1) < Amount(uncheckedMinorUnits: 2))
        #expect(!(Amount(uncheckedMinorUnits: 2) < Amount(uncheckedMinorUnits: 2)))
    }

    // MARK: Codable

    private struct Wrapper: Codable, Equatable {
        var amount: Amount
    }

    @Test("encodes as a decimal string")
    func encodesAsString() throws {
        let encoder = JSONEncoder()
        let data = try encoder.encode(Wrapper(amount: Amount(uncheckedMinorUnits: 4250)))
        #expect(String(decoding: data, as: UTF8.self) == #"{"amount":"42.50"}"#)
        let small = try encoder.encode([Amount(uncheckedMinorUnits: 5)])
        #expect(String(decoding: small, as: UTF8.self) == #"["0.05"]"#)
    }

    @Test("decodes from a decimal string", arguments: [("\"42\"", Int64(4200)), ("\"42.5\"", 4250), ("\"0.01\"", 1)])
    func decodesFromString(json: String, minorUnits: Int64) throws {
        let wrapper = try JSONDecoder().decode(Wrapper.self, from: Data(#"{"amount":\#(json)}"#.utf8))
        #expect(wrapper.amount.minorUnits == minorUnits)
    }

    @Test("Codable round trip", arguments: [Int64(0), 1, 4250, 1_000_000_000_000_000])
    func codableRoundTrip(minorUnits: Int64) throws {
        let value = Wrapper(amount: Amount(uncheckedMinorUnits: minorUnits))
        let decoded = try JSONDecoder().decode(Wrapper.self, from: try JSONEncoder().encode(value))
        #expect(decoded == value)
    }

    @Test("refuses a JSON number (floating point must never carry money)")
    func refusesNumber() {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Wrapper.self, from: Data(#"{"amount":42.5}"#.utf8))
        }
    }

    @Test(
        "refuses an invalid string with dataCorrupted",
        arguments: ["\"42.001\"", "\"-1\"", "\"\"", "\"1e3\"", "null"]
    )
    func refusesInvalidString(json: String) {
        do {
            _ = try JSONDecoder().decode(Wrapper.self, from: Data(#"{"amount":\#(json)}"#.utf8))
            Issue.record("decoded \(json)")
        } catch let error as DecodingError {
            switch (json, error) {
            case ("null", .valueNotFound): break
            case (_, .dataCorrupted(let context)):
                #expect(context.codingPath.map(\.stringValue) == ["amount"])
            default: Issue.record("unexpected error \(error) for \(json)")
            }
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
