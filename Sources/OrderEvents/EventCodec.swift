import Foundation

/// Why bytes could not be turned into an ``EventEnvelope``. Every case is a poison message:
/// retrying cannot help, so a consumer dead-letters it.
public enum EventDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bytes are not a JSON object with the envelope's fields.
    case malformed(String)
    /// `type` names no event this platform knows.
    case unknownType(String)
    /// The type is known but this `version` of it is not.
    case unsupportedVersion(type: String, version: Int)
    /// The envelope is fine but its payload does not match the type's schema.
    case invalidPayload(type: String, reason: String)

    public var description: String {
        switch self {
        case .malformed(let reason): "malformed event: \(reason)"
        case .unknownType(let type): "unknown event type \"\(type)\""
        case .unsupportedVersion(let type, let version): "unsupported version \(version) of event type \(type)"
        case .invalidPayload(let type, let reason): "invalid \(type) payload: \(reason)"
        }
    }
}

/// Encodes and decodes the versioned JSON form of ``EventEnvelope``.
///
/// Decoding checks the envelope, then the type, then the version, then the payload, and
/// reports the first failure as an ``EventDecodingError``. It is a pure function: safe to call
/// from any thread.
public enum EventCodec {
    /// The schema version this build writes, and the only one it reads.
    public static let currentVersion = 1
    public static let supportedVersions: ClosedRange<Int> = 1...1

    public static func encode(_ envelope: EventEnvelope) throws -> [UInt8] {
        let wire = Wire(
            eventId: envelope.eventId,
            type: envelope.type.rawValue,
            version: envelope.version,
            occurredAt: envelope.occurredAt,
            orderId: envelope.orderId,
            correlationId: envelope.correlationId,
            payload: AnyPayload(envelope.payload)
        )
        return Array(try encoder.encode(wire))
    }

    public static func decode(_ bytes: [UInt8]) throws(EventDecodingError) -> EventEnvelope {
        let data = Data(bytes)
        let head: Head
        do {
            head = try decoder.decode(Head.self, from: data)
        } catch {
            throw .malformed(Self.describe(error))
        }
        guard let type = EventType(rawValue: head.type) else { throw .unknownType(head.type) }
        guard supportedVersions.contains(head.version) else {
            throw .unsupportedVersion(type: head.type, version: head.version)
        }
        guard !head.orderId.isEmpty else { throw .malformed("orderId is empty") }
        let payload: EventPayload
        do {
            payload = try decodePayload(type, from: data)
        } catch {
            throw .invalidPayload(type: head.type, reason: Self.describe(error))
        }
        return EventEnvelope(
            eventId: head.eventId,
            version: head.version,
            occurredAt: head.occurredAt,
            orderId: head.orderId,
            correlationId: head.correlationId,
            payload: payload
        )
    }

    private static func decodePayload(_ type: EventType, from data: Data) throws -> EventPayload {
        func body<T: Decodable>(_: T.Type) throws -> T {
            try decoder.decode(Body<T>.self, from: data).payload
        }
        switch type {
        case .orderCreated: return .orderCreated(try body(OrderCreated.self))
        case .paymentCompleted: return .paymentCompleted(try body(PaymentCompleted.self))
        case .paymentFailed: return .paymentFailed(try body(PaymentFailed.self))
        case .paymentRefunded: return .paymentRefunded(try body(PaymentRefunded.self))
        case .inventoryReserved: return .inventoryReserved(try body(InventoryReserved.self))
        case .inventoryRejected: return .inventoryRejected(try body(InventoryRejected.self))
        case .notificationSent: return .notificationSent(try body(NotificationSent.self))
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing field \(path(context.codingPath + [key]))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at \(path(context.codingPath)): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty
                ? "not valid JSON" : "invalid value at \(path(context.codingPath)): \(context.debugDescription)"
        default:
            return String(describing: error)
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    private struct Head: Decodable {
        var eventId: UUID
        var type: String
        var version: Int
        var occurredAt: Date
        var orderId: String
        var correlationId: String
    }

    private struct Body<T: Decodable>: Decodable {
        var payload: T
    }

    private struct Wire: Encodable {
        var eventId: UUID
        var type: String
        var version: Int
        var occurredAt: Date
        var orderId: String
        var correlationId: String
        var payload: AnyPayload
    }

    private struct AnyPayload: Encodable {
        let payload: EventPayload
        init(_ payload: EventPayload) { self.payload = payload }

        func encode(to encoder: any Encoder) throws {
            switch payload {
            case .orderCreated(let p): try p.encode(to: encoder)
            case .paymentCompleted(let p): try p.encode(to: encoder)
            case .paymentFailed(let p): try p.encode(to: encoder)
            case .paymentRefunded(let p): try p.encode(to: encoder)
            case .inventoryReserved(let p): try p.encode(to: encoder)
            case .inventoryRejected(let p): try p.encode(to: encoder)
            case .notificationSent(let p): try p.encode(to: encoder)
            }
        }
    }

    // Configured once, never mutated: safe to share across threads.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.format(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 timestamp: \(text)")
            }
            return date
        }
        return decoder
    }()
}

/// ISO 8601 timestamps with milliseconds in UTC, as written in every event and API answer.
public enum Timestamp {
    /// Formats `date` rounded to the nearest millisecond, e.g. `2024-05-01T12:00:00.123Z`.
    ///
    /// The milliseconds are computed here rather than by `ISO8601FormatStyle`, which truncates
    /// the binary fraction: a millisecond-exact date such as 1700000000.123 (stored as
    /// 1700000000.12299990…) would otherwise be written as `.122`.
    public static func format(_ date: Date) -> String {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var (seconds, fraction) = millis.quotientAndRemainder(dividingBy: 1000)
        if fraction < 0 { seconds -= 1; fraction += 1000 }
        let whole = Date(timeIntervalSince1970: Double(seconds)).formatted(Date.ISO8601FormatStyle()) // "...T12:00:00Z"
        let digits = String(fraction)
        return whole.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    /// Parses an ISO 8601 timestamp (with or without fractional seconds), normalised to whole
    /// milliseconds so that `parse(format(d)) == d` for every millisecond-exact date `d`.
    public static func parse(_ text: String) -> Date? {
        guard let date = (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text)) else { return nil }
        return Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }
}
