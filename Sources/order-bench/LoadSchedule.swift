import Synchronization

/// Hands out order numbers and the instant each one's latency counts from.
///
/// - Open loop: order `n` is due at `start + n / rate` however late the previous ones were, so
///   a stall of the platform makes the queued orders' latencies grow instead of hiding them
///   (no coordinated omission).
/// - Closed loop: an order is due when a connection asks for it.
///
/// Thread-safe: every connection's worker takes from the same schedule; numbers are unique and
/// consecutive from 0.
final class LoadSchedule: Sendable {
    /// One order to send.
    struct Slot: Sendable {
        var number: Int
        /// When to send it (open loop); nil means now.
        var due: ContinuousClock.Instant?
        /// False during the warm-up: verified, but not part of the latency figures.
        var measured: Bool
    }

    private let load: BenchSettings.Load
    private let start: ContinuousClock.Instant
    private let measuredFrom: ContinuousClock.Instant
    private let end: ContinuousClock.Instant
    private let next = Mutex(0)

    init(load: BenchSettings.Load, start: ContinuousClock.Instant, warmup: Duration, duration: Duration) {
        self.load = load
        self.start = start
        self.measuredFrom = start + warmup
        self.end = start + warmup + duration
    }

    /// The next order, or nil once the load's time is over.
    func take() -> Slot? {
        switch load {
        case .open(let rate):
            return next.withLock { number in
                let due = start + .seconds(Double(number) / rate)
                guard due < end else { return nil }
                defer { number += 1 }
                return Slot(number: number, due: due, measured: due >= measuredFrom)
            }
        case .closed:
            let now = ContinuousClock.now
            guard now < end else { return nil }
            let number = next.withLock { number in
                defer { number += 1 }
                return number
            }
            return Slot(number: number, due: nil, measured: now >= measuredFrom)
        }
    }
}
