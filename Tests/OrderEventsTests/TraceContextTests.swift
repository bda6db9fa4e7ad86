import Testing
@testable import OrderEvents

private let traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
private let spanId = "00f067aa0ba902b7"
private let valid = "00-\(traceId)-\(spanId)-01"

@Suite("TraceContext")
struct TraceContextTests {
    @Test("parses a valid traceparent")
    func parsesValid() throws {
        let context = try #require(TraceContext(traceparent: valid))
        #expect(context.traceId == traceId)
        #expect(context.spanId == spanId)
        #expect(context.sampled)
    }

    @Test(
        "the sampled flag is bit 0 of the flags",
        arguments: [("00", false), ("01", true), ("02", false), ("03", true), ("ff", true), ("fe", false)]
    )
    func sampledFlag(flags: String, sampled: Bool) throws {
        let context = try #require(TraceContext(traceparent: "00-\(traceId)-\(spanId)-\(flags)"))
        #expect(context.sampled == sampled)
    }

    @Test(
        "rejects invalid traceparents",
        arguments: [
            "",
            "garbage",
            "00",
            "00-\(traceId)-\(spanId)",  // missing flags
            "01-\(traceId)-\(spanId)-01",  // other version
            "ff-\(traceId)-\(spanId)-01",  // forbidden version
            "0-\(traceId)-\(spanId)-01",
            "00-\(traceId.dropLast())-\(spanId)-01",  // short trace id
            "00-\(traceId)0-\(spanId)-01",  // long trace id
            "00-\(traceId)-\(spanId.dropLast())-01",  // short span id
            "00-\(traceId)-\(spanId)0-01",  // long span id
            "00-\(traceId)-\(spanId)-1",  // short flags
            "00-\(traceId)-\(spanId)-001",  // long flags
            "00-\(traceId)-\(spanId)-zz",  // non-hex flags
            "00-\(traceId)-\(spanId)-+1",  // signed flags
            "00-g\(traceId.dropFirst())-\(spanId)-01",  // non-hex trace id
            "00-\(traceId)-x\(spanId.dropFirst())-01",  // non-hex span id
            "00-\(traceId.uppercased())-\(spanId)-01",  // uppercase trace id
            "00-\(traceId)-\(spanId.uppercased())-01",  // uppercase span id
            "00-\(traceId)-\(spanId)-0A",  // uppercase flags
            "00-００\(traceId.dropFirst(2))-\(spanId)-01",  // fullwidth digits
            "00-00000000000000000000000000000000-\(spanId)-01",  // all-zero trace id
            "00-\(traceId)-0000000000000000-01",  // all-zero span id
            "00-\(traceId)-\(spanId)-01-",  // trailing dash
            "-00-\(traceId)-\(spanId)-01",  // leading dash
            "00--\(traceId)-\(spanId)-01",  // empty field
            "00-\(traceId)--\(spanId)-01",  // empty field
            "00-\(traceId)-\(spanId)-01-extra",  // extra field
            " \(valid)",  // leading space
            "\(valid) ",  // trailing space
            "00_\(traceId)_\(spanId)_01",  // wrong separator
        ]
    )
    func rejectsInvalid(text: String) {
        #expect(TraceContext(traceparent: text) == nil, "accepted \(text.debugDescription)")
    }

    @Test("description is the traceparent form", arguments: [true, false])
    func description(sampled: Bool) {
        let context = TraceContext(traceId: traceId, spanId: spanId, sampled: sampled)
        #expect(context.description == "00-\(traceId)-\(spanId)-\(sampled ? "01" : "00")")
    }

    @Test(
        "a canonical traceparent round trips through description",
        arguments: [
            valid, "00-\(traceId)-\(spanId)-00", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ]
    )
    func descriptionRoundTrip(text: String) throws {
        let context = try #require(TraceContext(traceparent: text))
        #expect(context.description == text)
        #expect(TraceContext(traceparent: context.description) == context)
    }

    @Test("a child keeps the trace id and sampling but gets a new span id")
    func child() throws {
        let parent = try #require(TraceContext(traceparent: valid))
        let child = parent.child()
        #expect(child.traceId == parent.traceId)
        #expect(child.sampled == parent.sampled)
        #expect(child.spanId != parent.spanId)
        #expect(isLowercaseHex(child.spanId, length: 16))
        #expect(TraceContext(traceparent: child.description) == child)

        let unsampled = TraceContext(traceId: traceId, spanId: spanId, sampled: false).child()
        #expect(!unsampled.sampled)
        #expect(unsampled.traceId == traceId)
    }

    @Test("children get distinct span ids")
    func childrenDistinct() {
        let parent = TraceContext.root()
        let spans = (0..<200).map { _ in parent.child().spanId }
        #expect(Set(spans).count == spans.count)
        #expect(!spans.contains(parent.spanId))
    }

    @Test("a root is a valid, sampled, fresh trace")
    func root() throws {
        let root = TraceContext.root()
        #expect(isLowercaseHex(root.traceId, length: 32))
        #expect(isLowercaseHex(root.spanId, length: 16))
        #expect(root.sampled)
        let parsed = try #require(TraceContext(traceparent: root.description))
        #expect(parsed == root)
        #expect(TraceContext.root().traceId != root.traceId)
    }

    private func isLowercaseHex(_ text: String, length: Int) -> Bool {
        text.utf8.count == length && text.allSatisfy { "0123456789abcdef".contains($0) }
    }
}
