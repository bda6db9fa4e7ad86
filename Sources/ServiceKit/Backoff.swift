/// Capped exponential backoff with full jitter, for retrying transient failures.
///
/// Delays grow `initial, 2×initial, …` up to `maximum`; each returned delay is drawn uniformly
/// from half to all of that step so that many retrying services do not synchronise.
public struct Backoff: Sendable {
    /// The first step.
    public let initial: Duration
    /// The largest step; delays never exceed it.
    public let maximum: Duration
    /// How many delays ``next()`` has returned since the last ``reset()``.
    public private(set) var attempt = 0

    /// A backoff at its first step.
    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next attempt.
    public mutating func next() -> Duration {
        defer { attempt += 1 }
        return delay(attempt: attempt, jitter: Double.random(in: 0.5...1.0))
    }

    /// The delay before attempt number `attempt` (0-based): `initial × 2^attempt` capped at
    /// `maximum`, scaled by `jitter` (clamped to 0.5…1.0).
    public func delay(attempt: Int, jitter: Double) -> Duration {
        min(initial * (1 << min(attempt, 30)), maximum) * min(max(jitter, 0.5), 1.0)
    }

    /// Back to the first step, after a success.
    public mutating func reset() {
        attempt = 0
    }
}
