import Foundation

/// The envelope every event travels in. The Kafka key is always ``orderId``.
///
/// `correlationId` is shared by every event caused by one order request, so one order's whole
/// story can be found in every service's logs.
public struct EventEnvelope: Sendable, Hashable {
    public var eventId: UUID
    public var version: Int
    public var occurredAt: Date
    public var orderId: String
    public var correlationId: String
    public var payload: EventPayload

    public var type: EventType { payload.type }

    /// The Kafka message key: the order id, so one order's events keep their order.
    public var key: String { orderId }

    public init(
        eventId: UUID = UUID(),
        version: Int = EventCodec.currentVersion,
        occurredAt: Date = Date(),
        orderId: String,
        correlationId: String,
        payload: EventPayload
    ) {
        self.eventId = eventId
        self.version = version
        self.occurredAt = occurredAt
        self.orderId = orderId
        self.correlationId = correlationId
        self.payload = payload
    }

    /// A new event caused by this one: same order, same correlation id, a fresh event id.
    public func caused(_ payload: EventPayload, at date: Date = Date()) -> EventEnvelope {
        EventEnvelope(occurredAt: date, orderId: orderId, correlationId: correlationId, payload: payload)
    }
}

/// Kafka header names the platform sets on every event.
public enum EventHeader {
    /// The event type (`OrderCreated`, ...), so a consumer can route without decoding.
    public static let eventType = "event-type"
    /// W3C trace context.
    public static let traceparent = "traceparent"
}
