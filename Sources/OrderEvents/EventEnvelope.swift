import Foundation

/// The envelope every event travels in. The Kafka key is always ``orderId``.
///
/// `correlationId` is shared by every event caused by one order request, so one order's whole
/// story can be found in every service's logs. A plain value: it validates nothing itself;
/// ``EventCodec/decode(_:)`` is where received envelopes are checked.
public struct EventEnvelope: Sendable, Hashable {
    /// Unique per event; consumers deduplicate redelivered messages by it.
    public var eventId: UUID
    /// The schema version of the whole event (``EventCodec/currentVersion`` for new events).
    public var version: Int
    /// When the producing service decided the event; travels at millisecond precision (UTC).
    public var occurredAt: Date
    /// The order the event belongs to; never empty in a decoded envelope.
    public var orderId: String
    /// Shared by every event one order request caused (the request's correlation id).
    public var correlationId: String
    /// What happened; its case decides ``type``.
    public var payload: EventPayload

    /// The event type, derived from ``payload`` (so the two can never disagree).
    public var type: EventType { payload.type }

    /// The Kafka message key: the order id, so one order's events keep their order.
    public var key: String { orderId }

    /// A new event: by default a fresh id, the current schema version and the current time.
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
