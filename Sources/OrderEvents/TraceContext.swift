/// A W3C `traceparent` value: `00-<trace id>-<parent id>-<flags>`.
///
/// Every event an order causes keeps the trace id of the request that created the order and
/// gets a new parent (span) id, so a tracing backend can stitch the flow together.
public struct TraceContext: Sendable, Hashable, CustomStringConvertible {
    /// 32 lowercase hex digits, not all zero, in a parsed or generated context.
    public var traceId: String
    /// 16 lowercase hex digits, not all zero, in a parsed or generated context.
    public var spanId: String
    /// The W3C `sampled` flag (bit 0 of the trace flags).
    public var sampled: Bool

    /// A new root trace.
    public static func root() -> TraceContext {
        TraceContext(traceId: randomHex(bytes: 16), spanId: randomHex(bytes: 8), sampled: true)
    }

    /// A context from its parts as given; nothing is checked here (``init(traceparent:)`` validates).
    public init(traceId: String, spanId: String, sampled: Bool) {
        self.traceId = traceId
        self.spanId = spanId
        self.sampled = sampled
    }

    /// Parses a `traceparent` header; nil when it is not a valid version-00 value.
    public init?(traceparent: String) {
        // W3C: exactly four dash-separated fields of lowercase hex (no empty fields, no trailing
        // data for version 00; `Character.isHexDigit` would also admit uppercase and fullwidth digits).
        func isLowerHex(_ field: Substring) -> Bool {
            field.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        }
        let parts = traceparent.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "00",
            parts[1].utf8.count == 32, parts[2].utf8.count == 16, parts[3].utf8.count == 2,
            isLowerHex(parts[1]), isLowerHex(parts[2]), isLowerHex(parts[3]),
            parts[1] != String(repeating: "0", count: 32), parts[2] != String(repeating: "0", count: 16),
            let flags = UInt8(parts[3], radix: 16)
        else { return nil }
        self.init(traceId: String(parts[1]), spanId: String(parts[2]), sampled: flags & 1 == 1)
    }

    /// A child span in the same trace.
    public func child() -> TraceContext {
        TraceContext(traceId: traceId, spanId: Self.randomHex(bytes: 8), sampled: sampled)
    }

    /// The `traceparent` header value, version 00: `00-<traceId>-<spanId>-01` (or `-00` when not
    /// sampled). ``init(traceparent:)`` reads it back to the same context.
    public var description: String {
        "00-\(traceId)-\(spanId)-\(sampled ? "01" : "00")"
    }

    private static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var text = ""
        for _ in 0..<bytes {
            let byte = UInt8.random(in: 0...255, using: &generator)
            text += (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }
        return text
    }
}
