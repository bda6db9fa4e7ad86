import Foundation
import Testing
@testable import OrderEvents

@Suite("Timestamp")
struct TimestampTests {
    @Test(
        "formats UTC with exactly three fraction digits",
        arguments: [
            (0.0, "1970-01-01T00:00:00.000Z"),
            (0.5, "1970-01-01T00:00:00.500Z"),
            (1_700_000_000.123, "2023-11-14T22:13:20.123Z"),
            (1_700_000_000.001, "2023-11-14T22:13:20.001Z"),
            (1_714_567_890.007, "2024-05-01T12:51:30.007Z"),
            (1_714_567_890.999, "2024-05-01T12:51:30.999Z"),
            (1_714_567_890.1236, "2024-05-01T12:51:30.124Z"),
            (1_714_567_890.9996, "2024-05-01T12:51:31.000Z"),
            (-0.001, "1969-12-31T23:59:59.999Z"),
            (-1.5, "1969-12-31T23:59:58.500Z"),
            (4_102_444_799.999, "2099-12-31T23:59:59.999Z"),
        ]
    )
    func format(seconds: Double, text: String) {
        #expect(Timestamp.format(Date(timeIntervalSince1970: seconds)) == text)
    }

    @Test(
        "parses with and without fractional seconds and with offsets",
        arguments: [
            ("2024-05-01T12:00:00.250Z", 1_714_564_800.25),
            ("2024-05-01T12:00:00Z", 1_714_564_800.0),
            ("2024-05-01T14:00:00.250+02:00", 1_714_564_800.25),
            ("1970-01-01T00:00:00.000Z", 0.0),
        ]
    )
    func parse(text: String, seconds: Double) throws {
        let date = try #require(Timestamp.parse(text))
        #expect(date == Date(timeIntervalSince1970: seconds))
    }

    @Test(
        "rejects text that is not an ISO 8601 timestamp",
        arguments: ["", "yesterday", "2024-05-01", "1714564800", "2024-13-01T00:00:00Z"]
    )
    func parseRejects(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test("format then parse is the identity for millisecond-exact dates")
    func roundTrip() {
        var mismatches: [Int64] = []
        for step in Int64(0)..<20_000 {
            let ms = 1_700_000_000_000 + step * 37
            let date = Date(timeIntervalSince1970: Double(ms) / 1000)
            let text = Timestamp.format(date)
            if Timestamp.parse(text) != date || text.count != 24 { mismatches.append(ms) }
        }
        #expect(mismatches.count == 0, "mismatches at \(Array(mismatches.prefix(5)))")
    }

    @Test("the hand-written calendar agrees with Foundation's ISO 8601 formatter from 1900 to 2200")
    func agreesWithFoundation() {
        var mismatches: [String] = []
        var seconds: Int64 = -2_208_988_800  // 1900-01-01
        while seconds < 7_258_118_400 {  // 2200-01-01
            let date = Date(timeIntervalSince1970: Double(seconds))
            let expected = String(date.formatted(Date.ISO8601FormatStyle()).dropLast()) + ".000Z"
            let text = Timestamp.format(date)
            if text != expected { mismatches.append("\(text) ≠ \(expected)") }
            seconds += 86_400 * 13 + 3_671  // every 13 days and a bit, so every time of day comes up
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }
}
