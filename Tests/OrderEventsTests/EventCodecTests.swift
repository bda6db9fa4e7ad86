import Foundation
import Testing
@testable import OrderEvents

@Suite("EventCodec round trip")
struct EventCodecRoundTripTests {
    @Test("fixtures cover every EventType exactly once")
    func fixturesCoverEveryType() {
        #expect(Fixtures.fullPayloads.map(\.type) == EventType.allCases)
        #expect(Fixtures.sparsePayloads.map(\.type) == EventType.allCases)
        #expect(EventType.allCases.count == 7)
    }

    @Test("every payload with all optional fields set survives encode/decode", arguments: Fixtures.fullPayloads)
    func roundTripFull(payload: EventPayload) throws {
        let envelope = Fixtures.envelope(payload)
        let decoded = try EventCodec.decode(try EventCodec.encode(envelope))
        #expect(decoded == envelope)
        #expect(decoded.payload == payload)
        #expect(decoded.type == payload.type)
        #expect(decoded.eventId == Fixtures.eventId)
        #expect(decoded.version == EventCodec.currentVersion)
        #expect(decoded.orderId == "order-0001")
        #expect(decoded.correlationId == "corr-abc")
        #expect(decoded.occurredAt == Fixtures.occurredAt)
        #expect(decoded.key == "order-0001")
    }

    @Test("every payload with optional fields nil survives encode/decode", arguments: Fixtures.sparsePayloads)
    func roundTripSparse(payload: EventPayload) throws {
        let envelope = Fixtures.envelope(payload)
        let decoded = try EventCodec.decode(try EventCodec.encode(envelope))
        #expect(decoded == envelope)
    }

    @Test("the wire form names the type, version, timestamp and amount as documented", arguments: Fixtures.fullPayloads)
    func wireForm(payload: EventPayload) throws {
        let object = try Fixtures.jsonObject(Fixtures.envelope(payload))
        #expect(object["type"] as? String == payload.type.rawValue)
        #expect(object["version"] as? Int == 1)
        #expect(object["occurredAt"] as? String == "2024-05-01T12:51:30.123Z")
        #expect(object["orderId"] as? String == "order-0001")
        #expect(object["correlationId"] as? String == "corr-abc")
        #expect((object["eventId"] as? String).flatMap(UUID.init(uuidString:)) == Fixtures.eventId)
        let body = try #require(object["payload"] as? [String: Any])
        if let amount = amountOf(payload) {
            // Amounts are decimal strings on the wire, never JSON numbers.
            #expect(body["amount"] as? String == amount.description)
        } else {
            #expect(body["amount"] == nil)
        }
    }

    @Test("amounts are written as exact decimal strings")
    func amountWireString() throws {
        let object = try Fixtures.jsonObject()
        let body = try #require(object["payload"] as? [String: Any])
        #expect(body["amount"] as? String == "42.50")
        #expect(body["currency"] as? String == "EUR")
        let items = try #require(body["items"] as? [[String: Any]])
        #expect(items.count == 2)
        #expect(items.first?["sku"] as? String == "SKU-RED-1")
        #expect(items.first?["quantity"] as? Int == 2)
    }

    @Test("enum payload fields use their raw wire strings")
    func enumRawValues() throws {
        let object = try Fixtures.jsonObject(Fixtures.envelope(Fixtures.fullPayloads[6]))
        let body = try #require(object["payload"] as? [String: Any])
        #expect(body["outcome"] as? String == "cancelled")
        #expect(body["reason"] as? String == "payment_declined")
        let rejected = try Fixtures.jsonObject(Fixtures.envelope(Fixtures.fullPayloads[5]))
        #expect((rejected["payload"] as? [String: Any])?["reason"] as? String == "out_of_stock")
    }

    @Test(
        "occurredAt is preserved to the millisecond",
        arguments: [
            0.0, 0.001, 0.999, 1_700_000_000.123, 1_700_000_000.001, 1_714_567_890.007, 1_714_567_890.999,
            1_999_999_999.5, 4_102_444_799.999, -1.5,
        ]
    )
    func occurredAtMillisecond(seconds: Double) throws {
        let date = Date(timeIntervalSince1970: seconds)
        let decoded = try EventCodec.decode(
            try EventCodec.encode(Fixtures.envelope(Fixtures.fullPayloads[0], occurredAt: date))
        )
        #expect(milliseconds(decoded.occurredAt) == milliseconds(date))
        #expect(decoded.occurredAt == date)
    }

    @Test("occurredAt round trips for a long run of consecutive milliseconds")
    func occurredAtManyMilliseconds() throws {
        var mismatches: [Int64] = []
        for offset in Int64(0)..<2_000 {
            let ms = 1_714_567_890_000 + offset
            let date = Date(timeIntervalSince1970: Double(ms) / 1000)
            let envelope = Fixtures.envelope(Fixtures.sparsePayloads[4], occurredAt: date)
            let decoded = try EventCodec.decode(try EventCodec.encode(envelope))
            if milliseconds(decoded.occurredAt) != ms || decoded != envelope { mismatches.append(ms) }
        }
        #expect(mismatches.count == 0, "lost milliseconds at \(Array(mismatches.prefix(5)))")
    }

    @Test("sub-millisecond precision is rounded to the nearest millisecond")
    func subMillisecondRounding() throws {
        let date = Date(timeIntervalSince1970: 1_714_567_890.1236)
        let decoded = try EventCodec.decode(
            try EventCodec.encode(Fixtures.envelope(Fixtures.fullPayloads[0], occurredAt: date))
        )
        #expect(milliseconds(decoded.occurredAt) == 1_714_567_890_124)
    }

    @Test("decodes a hand-written contract document")
    func decodesContractDocument() throws {
        let json = """
            {"eventId":"6F1C2B3A-4D5E-4F60-8172-93A4B5C6D7E8","type":"PaymentCompleted","version":1,
             "occurredAt":"2024-05-01T12:00:00.250Z","orderId":"o-1","correlationId":"c-1",
             "payload":{"paymentId":"pay-1","amount":"42.5","currency":"EUR","customerEmail":null,
                        "items":[{"sku":"A","quantity":3}],"someFutureField":true},
             "anotherFutureField":"ignored"}
            """
        let envelope = try EventCodec.decode(Array(json.utf8))
        #expect(envelope.eventId == Fixtures.eventId)
        #expect(envelope.type == .paymentCompleted)
        #expect(envelope.orderId == "o-1")
        #expect(envelope.correlationId == "c-1")
        #expect(envelope.occurredAt == Date(timeIntervalSince1970: 1_714_564_800.25))
        #expect(
            envelope.payload
                == .paymentCompleted(
                    PaymentCompleted(
                        paymentId: "pay-1",
                        amount: Amount(uncheckedMinorUnits: 4250),
                        currency: "EUR",
                        customerEmail: nil,
                        items: [LineItem(sku: "A", quantity: 3)]
                    )
                )
        )
    }

    @Test("a timestamp without fractional seconds is accepted")
    func timestampWithoutFraction() throws {
        let bytes = try Fixtures.mutated { $0["occurredAt"] = "2024-05-01T12:00:00Z" }
        let envelope = try EventCodec.decode(bytes)
        #expect(envelope.occurredAt == Date(timeIntervalSince1970: 1_714_564_800))
    }

    @Test("encoding is deterministic (sorted keys)")
    func deterministicEncoding() throws {
        let envelope = Fixtures.orderCreatedEnvelope
        let first = try EventCodec.encode(envelope)
        #expect(try EventCodec.encode(envelope) == first)
        let text = String(decoding: first, as: UTF8.self)
        let keys = ["correlationId", "eventId", "occurredAt", "orderId", "payload", "type", "version"]
        let positions = keys.compactMap { text.range(of: "\"\($0)\":")?.lowerBound }
        #expect(positions.count == keys.count)
        #expect(positions == positions.sorted())
    }
}

func amountOf(_ payload: EventPayload) -> Amount? {
    switch payload {
    case .orderCreated(let p): p.amount
    case .paymentCompleted(let p): p.amount
    case .paymentFailed(let p): p.amount
    case .paymentRefunded(let p): p.amount
    case .inventoryReserved, .inventoryRejected, .notificationSent: nil
    }
}

func milliseconds(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1000).rounded())
}

@Suite("EventCodec decoding errors")
struct EventCodecErrorTests {
    @Test("an unknown type is .unknownType")
    func unknownType() throws {
        let bytes = try Fixtures.mutated { $0["type"] = "OrderShipped" }
        #expect(decodeError(bytes) == .unknownType("OrderShipped"))
    }

    @Test("type names are case-sensitive")
    func typeCaseSensitive() throws {
        let bytes = try Fixtures.mutated { $0["type"] = "orderCreated" }
        #expect(decodeError(bytes) == .unknownType("orderCreated"))
    }

    @Test("an unknown type is reported before an unsupported version")
    func unknownTypeBeforeVersion() throws {
        let bytes = try Fixtures.mutated {
            $0["type"] = "OrderShipped"
            $0["version"] = 7
        }
        #expect(decodeError(bytes) == .unknownType("OrderShipped"))
    }

    @Test("versions other than 1 are .unsupportedVersion", arguments: [0, 2, -1, 99])
    func unsupportedVersion(version: Int) throws {
        let bytes = try Fixtures.mutated { $0["version"] = version }
        #expect(decodeError(bytes) == .unsupportedVersion(type: "OrderCreated", version: version))
    }

    @Test("an unsupported version is reported before an invalid payload or empty orderId")
    func versionBeforePayload() throws {
        let bytes = try Fixtures.mutated(Fixtures.envelope(Fixtures.fullPayloads[2])) {
            $0["version"] = 2
            $0["payload"] = ["nonsense": true]
            $0["orderId"] = ""
        }
        #expect(decodeError(bytes) == .unsupportedVersion(type: "PaymentFailed", version: 2))
    }

    @Test(
        "bytes that are not JSON are .malformed",
        arguments: [
            "", "hello", "{", "{\"type\":", "<xml/>", "\u{FEFF}garbage",
        ]
    )
    func notJSON(text: String) {
        guard case .malformed = decodeError(text) else {
            Issue.record("expected .malformed for \(text.debugDescription)")
            return
        }
    }

    @Test("invalid UTF-8 is .malformed")
    func invalidUTF8() {
        guard case .malformed = decodeError([0xFF, 0xFE, 0x00, 0x7B]) else {
            Issue.record("expected .malformed")
            return
        }
    }

    @Test(
        "JSON that is not an object is .malformed",
        arguments: ["[]", "[{\"type\":\"OrderCreated\"}]", "null", "42", "\"OrderCreated\"", "true", "{}"]
    )
    func notAnObject(text: String) {
        guard case .malformed = decodeError(text) else {
            Issue.record("expected .malformed for \(text)")
            return
        }
    }

    @Test("a JSON array holding a valid event is still .malformed")
    func arrayOfValidEvent() throws {
        let event = String(decoding: try EventCodec.encode(Fixtures.orderCreatedEnvelope), as: UTF8.self)
        guard case .malformed = decodeError("[\(event)]") else {
            Issue.record("expected .malformed")
            return
        }
    }

    @Test(
        "a missing envelope field is .malformed naming the field",
        arguments: ["eventId", "type", "version", "occurredAt", "orderId", "correlationId"]
    )
    func missingField(field: String) throws {
        let bytes = try Fixtures.mutated { $0.removeValue(forKey: field) }
        guard case .malformed(let reason) = decodeError(bytes) else {
            Issue.record("expected .malformed when \(field) is missing")
            return
        }
        #expect(reason.contains(field), "reason: \(reason)")
    }

    @Test(
        "a null envelope field is .malformed",
        arguments: ["eventId", "type", "version", "occurredAt", "orderId", "correlationId"]
    )
    func nullField(field: String) throws {
        let bytes = try Fixtures.mutated { $0[field] = NSNull() }
        guard case .malformed = decodeError(bytes) else {
            Issue.record("expected .malformed when \(field) is null")
            return
        }
    }

    @Test(
        "envelope fields of the wrong type or form are .malformed",
        arguments: [
            ("version", "1" as any Sendable),
            ("version", 1.5 as any Sendable),
            ("type", 3 as any Sendable),
            ("orderId", 1234 as any Sendable),
            ("eventId", "not-a-uuid" as any Sendable),
            ("occurredAt", "yesterday" as any Sendable),
            ("occurredAt", 1_714_567_890 as any Sendable),
            ("correlationId", ["a"] as any Sendable),
        ]
    )
    func wrongEnvelopeFieldType(field: String, value: any Sendable) throws {
        let bytes = try Fixtures.mutated { $0[field] = value }
        guard case .malformed = decodeError(bytes) else {
            Issue.record("expected .malformed for \(field) = \(value)")
            return
        }
    }

    @Test("an empty orderId is .malformed")
    func emptyOrderId() throws {
        let bytes = try Fixtures.mutated { $0["orderId"] = "" }
        #expect(decodeError(bytes) == .malformed("orderId is empty"))
    }

    @Test("a missing payload is .invalidPayload")
    func missingPayload() throws {
        let bytes = try Fixtures.mutated { $0.removeValue(forKey: "payload") }
        guard case .invalidPayload(let type, let reason) = decodeError(bytes) else {
            Issue.record("expected .invalidPayload")
            return
        }
        #expect(type == "OrderCreated")
        #expect(reason.contains("payload"), "reason: \(reason)")
    }

    @Test("a payload that is not an object is .invalidPayload", arguments: ["[1,2]", "\"text\"", "null", "7"])
    func payloadNotObject(json: String) throws {
        var text = String(decoding: try EventCodec.encode(Fixtures.orderCreatedEnvelope), as: UTF8.self)
        let start = try #require(text.range(of: "\"payload\":"))
        let end = try #require(text.range(of: ",\"type\":", range: start.upperBound..<text.endIndex))
        text.replaceSubrange(start.upperBound..<end.lowerBound, with: json)
        guard case .invalidPayload(type: "OrderCreated", reason: _) = decodeError(text) else {
            Issue.record("expected .invalidPayload for payload \(json) in \(text)")
            return
        }
    }

    @Test(
        "payload fields of the wrong type are .invalidPayload naming the path",
        arguments: [
            ("amount", 42.5 as any Sendable, "payload.amount"),
            ("amount", 42 as any Sendable, "payload.amount"),
            ("currency", 978 as any Sendable, "payload.currency"),
            ("items", "SKU-1" as any Sendable, "payload.items"),
            ("items", [["sku": "A", "quantity": "two"]] as any Sendable, "payload.items.0.quantity"),
            ("items", [["sku": "A"]] as any Sendable, "payload.items.0.quantity"),
            ("customerEmail", false as any Sendable, "payload.customerEmail"),
        ]
    )
    func wrongPayloadFieldType(field: String, value: any Sendable, path: String) throws {
        let bytes = try Fixtures.mutatedPayload { $0[field] = value }
        guard case .invalidPayload(let type, let reason) = decodeError(bytes) else {
            Issue.record("expected .invalidPayload for \(field) = \(value)")
            return
        }
        #expect(type == "OrderCreated")
        #expect(reason.contains(path), "reason: \(reason)")
    }

    @Test(
        "bad amount strings are .invalidPayload",
        arguments: [
            "42.001", "-1", "1e3", "", ".5", "5.", " 5", "42,50", "abc", "10000000000000.01", "NaN",
        ]
    )
    func badAmountString(amount: String) throws {
        let bytes = try Fixtures.mutatedPayload { $0["amount"] = amount }
        guard case .invalidPayload(let type, let reason) = decodeError(bytes) else {
            Issue.record("expected .invalidPayload for amount \(amount.debugDescription)")
            return
        }
        #expect(type == "OrderCreated")
        #expect(reason.contains("payload.amount"), "reason: \(reason)")
    }

    @Test("a missing required payload field is .invalidPayload", arguments: ["amount", "currency", "items"])
    func missingPayloadField(field: String) throws {
        let bytes = try Fixtures.mutatedPayload { $0.removeValue(forKey: field) }
        guard case .invalidPayload(type: "OrderCreated", reason: let reason) = decodeError(bytes) else {
            Issue.record("expected .invalidPayload without \(field)")
            return
        }
        #expect(reason.contains(field), "reason: \(reason)")
    }

    @Test("an absent optional payload field is fine")
    func absentOptionalField() throws {
        let bytes = try Fixtures.mutatedPayload { $0.removeValue(forKey: "customerEmail") }
        let envelope = try EventCodec.decode(bytes)
        guard case .orderCreated(let payload) = envelope.payload else {
            Issue.record("expected an OrderCreated payload")
            return
        }
        #expect(payload.customerEmail == nil)
        #expect(payload.amount == Amount(uncheckedMinorUnits: 4250))
    }

    @Test("unknown enum raw values in a payload are .invalidPayload")
    func unknownEnumValue() throws {
        let failed = Fixtures.envelope(Fixtures.fullPayloads[2])
        let bytes = try Fixtures.mutatedPayload(failed) { $0["reason"] = "lost_in_the_mail" }
        guard case .invalidPayload(type: "PaymentFailed", reason: let reason) = decodeError(bytes) else {
            Issue.record("expected .invalidPayload")
            return
        }
        #expect(reason.contains("payload.reason"), "reason: \(reason)")

        let sent = Fixtures.envelope(Fixtures.fullPayloads[6])
        let sentBytes = try Fixtures.mutatedPayload(sent) { $0["outcome"] = "maybe" }
        guard case .invalidPayload(type: "NotificationSent", reason: _) = decodeError(sentBytes) else {
            Issue.record("expected .invalidPayload")
            return
        }
    }

    @Test("a payload of another type's schema is .invalidPayload for the declared type")
    func payloadOfAnotherType() throws {
        // An OrderCreated body under a PaymentFailed type lacks `reason` and `detail`.
        let bytes = try Fixtures.mutated { $0["type"] = "PaymentFailed" }
        guard case .invalidPayload(type: "PaymentFailed", reason: _) = decodeError(bytes) else {
            Issue.record("expected .invalidPayload")
            return
        }
    }

    @Test("errors describe themselves")
    func errorDescriptions() {
        #expect(EventDecodingError.malformed("not valid JSON").description == "malformed event: not valid JSON")
        #expect(EventDecodingError.unknownType("X").description == "unknown event type \"X\"")
        #expect(
            EventDecodingError.unsupportedVersion(type: "OrderCreated", version: 2).description
                == "unsupported version 2 of event type OrderCreated"
        )
        #expect(
            EventDecodingError.invalidPayload(type: "OrderCreated", reason: "r").description
                == "invalid OrderCreated payload: r"
        )
    }

    @Test("the codec reads exactly the version it writes")
    func versions() {
        #expect(EventCodec.currentVersion == 1)
        #expect(EventCodec.supportedVersions == 1...1)
        #expect(EventCodec.supportedVersions.contains(EventCodec.currentVersion))
    }
}

@Suite("EventEnvelope")
struct EventEnvelopeTests {
    @Test("type follows the payload and key is the order id", arguments: Fixtures.fullPayloads)
    func typeAndKey(payload: EventPayload) {
        let envelope = Fixtures.envelope(payload)
        #expect(envelope.type == payload.type)
        #expect(envelope.key == envelope.orderId)
    }

    @Test("payload case maps to the EventType with the matching wire name")
    func payloadTypes() {
        #expect(
            Fixtures.fullPayloads.map(\.type.rawValue) == [
                "OrderCreated", "PaymentCompleted", "PaymentFailed", "PaymentRefunded",
                "InventoryReserved", "InventoryRejected", "NotificationSent",
            ]
        )
    }

    @Test("a caused event keeps order and correlation but gets a new event id")
    func caused() {
        let original = Fixtures.orderCreatedEnvelope
        let later = Date(timeIntervalSince1970: 1_714_567_999)
        let next = original.caused(Fixtures.fullPayloads[1], at: later)
        #expect(next.orderId == original.orderId)
        #expect(next.correlationId == original.correlationId)
        #expect(next.eventId != original.eventId)
        #expect(next.occurredAt == later)
        #expect(next.type == .paymentCompleted)
        #expect(next.version == EventCodec.currentVersion)
    }

    @Test("header names are stable")
    func headerNames() {
        #expect(EventHeader.eventType == "event-type")
        #expect(EventHeader.traceparent == "traceparent")
    }
}
