import Foundation
import Fuzzing
import Testing
@testable import OrderEvents

/// The codec against mutated messages (the corpus is what its own encoder writes for every
/// payload): decoding returns an envelope or an ``EventDecodingError``, never traps, and what it
/// returns is valid and survives encoding and decoding again unchanged. The `traceparent`
/// header's parser is held to the same. `FUZZ_ITERATIONS` and `FUZZ_SEED` run it longer.
@Suite("EventCodec: fuzzing")
struct EventCodecFuzzTests {
    static let fuzzer: Fuzzer = {
        let envelopes = (Fixtures.fullPayloads + Fixtures.sparsePayloads).map { Fixtures.envelope($0) }
        let corpus = envelopes.compactMap { try? EventCodec.encode($0) }
        let keys = [
            "eventId", "type", "version", "occurredAt", "orderId", "correlationId", "payload", "amount", "currency",
            "customerEmail", "items", "sku", "quantity", "paymentId", "reason", "detail", "unavailable",
            "notificationId", "outcome", "channel", "recipient",
        ]
        let strings =
            EventType.allCases.map(\.rawValue) + CancellationReason.allCases.map(\.rawValue) + [
                "completed", "cancelled", "2024-05-01T12:51:30.123Z", "2024-02-30T00:00:00.000Z",
                "9999-12-31T23:59:59.999Z", "0000-01-01T00:00:00.000Z", "2024-05-01T12:51:30Z",
                "2024-05-01T12:51:30.1234567+05:30", "-2024-05-01T12:51:30Z", "+12024-05-01T12:51:30Z",
                "6F1C2B3A-4D5E-4F60-8172-93A4B5C6D7E8", "6f1c2b3a-4d5e-4f60-8172-93a4b5c6d7e8", "42.50", "0.001",
                "-1.00", "10000000000000", "10000000000000.01", "99999999999999",
            ]
        return Fuzzer(
            "event codec",
            corpus: corpus,
            tokens: keys.map { "\"\($0)\":" } + strings.map { "\"\($0)\"" } + ["null", "true", "[]", "{}"],
            structure: .json(JSONVocabulary(keys: keys, strings: strings))
        )
    }()

    @Test func decodesOrRejectsAndRoundTrips() {
        #expect(Self.fuzzer.corpus.count == 2 * EventType.allCases.count)
        let report = Self.fuzzer.run(.fromEnvironment(defaultIterations: 1500), property: Self.check)
        #expect(report.findingCount == 0, "\(report)")
        #expect(report.accepted > report.settings.iterations / 50, "too few inputs decode: \(report)")
    }

    static func check(_ bytes: [UInt8]) -> FuzzVerdict {
        let envelope: EventEnvelope
        do {
            envelope = try EventCodec.decode(bytes)
        } catch {
            return error.description.isEmpty ? .violated("an error without a description: \(error)") : .rejected
        }
        guard !envelope.orderId.isEmpty, EventCodec.supportedVersions.contains(envelope.version) else {
            return .violated("decoded an envelope the codec promises to reject: \(envelope)")
        }
        if let amount = amountOf(envelope.payload), !(Amount(exactly: "0")!...Amount.maximum).contains(amount) {
            return .violated("decoded amount \(amount.minorUnits) minor units, outside 0...maximum")
        }
        do {
            let encoded = try EventCodec.encode(envelope)
            let again = try EventCodec.decode(encoded)
            guard again == envelope else { return .violated("re-decoding the re-encoded envelope differs: \(again)") }
            guard try EventCodec.encode(again) == encoded else { return .violated("encoding is not deterministic") }
        } catch {
            return .violated("the decoded envelope does not survive encoding: \(error)")
        }
        return .accepted
    }

    @Test func parsesTraceparentsOrRejectsThem() {
        let fuzzer = Fuzzer(
            "traceparent header",
            corpus: [
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                TraceContext.root().description,
            ].map { Array($0.utf8) },
            tokens: ["-", "00", "ff", "0000000000000000", "00000000000000000000000000000000", "A", "g"]
        )
        let report = fuzzer.run(.fromEnvironment(defaultIterations: 1500)) { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            guard let context = TraceContext(traceparent: text) else { return .rejected }
            let isLowerHex = { (field: String) in
                field.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
            }
            guard context.traceId.utf8.count == 32, context.spanId.utf8.count == 16, isLowerHex(context.traceId),
                isLowerHex(context.spanId), context.traceId.contains(where: { $0 != "0" }),
                context.spanId.contains(where: { $0 != "0" })
            else { return .violated("accepted an invalid context: \(context)") }
            guard TraceContext(traceparent: context.description) == context else {
                return .violated("\(context.description) does not parse back to the same context")
            }
            return .accepted
        }
        #expect(report.findingCount == 0, "\(report)")
    }
}
