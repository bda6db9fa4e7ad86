import Foundation
import Histogram
import OrderEvents
import Synchronization

/// What happened to every order of the run: written by the HTTP workers and the notification
/// observer (in either order: a notification can be seen before its 202 is read), read by the
/// progress line and the final report. Thread-safe; every method is short and non-blocking.
final class OrderLedger: Sendable {
    /// The counts at one moment, for the progress line.
    struct Progress: Sendable {
        var sent: Int
        var accepted: Int
        var notified: Int
        var failed: Int
        /// Sent, neither failed nor notified yet: in the API or somewhere in the event flow.
        var inFlight: Int { sent - failed - notified }
    }

    /// The verdict on every order once the run is over.
    struct Summary: Sendable {
        var sent = 0
        var accepted = 0
        /// Accepted during the measured window (after the warm-up).
        var measuredAccepted = 0
        var completed = 0
        var cancelled = 0
        var failed = 0
        var failures: [String: Int] = [:]
        var lost = 0
        /// Distinct notification events beyond the first, summed over orders: the notification
        /// effect happened more than once (a broken dedup), which fails the run.
        var duplicates = 0
        /// Deliveries of a notification event already seen (same eventId), summed over orders: a
        /// relay's at-least-once re-publish, absorbed downstream by eventId; informational.
        var redelivered = 0
        /// Notifications for orders whose request failed (the API took it but the answer was lost)
        /// or that the bench never sent.
        var unexpected = 0
        var http = Histogram<UInt64>.latency()
        var e2e = Histogram<UInt64>.latency()
        var firstSend: ContinuousClock.Instant?
        var lastNotification: ContinuousClock.Instant?
    }

    private struct Entry {
        var origin: ContinuousClock.Instant
        var measured: Bool
        var accepted = false
        var failed = false
        /// Every notification message seen, repeats included.
        var notifications = 0
        /// The distinct eventIds among them: nearly always one, so a list.
        var notificationIds: [UUID] = []
        var outcome: NotifiedOutcome?
    }

    private struct State {
        var entries: [Int: Entry] = [:]
        var progress = Progress(sent: 0, accepted: 0, notified: 0, failed: 0)
        var failures: [String: Int] = [:]
        var strayNotifications = 0
        var http = Histogram<UInt64>.latency()
        var e2e = Histogram<UInt64>.latency()
        // The last second only, for the progress line.
        var recentHTTP = Histogram<UInt64>.latency()
        var recentE2E = Histogram<UInt64>.latency()
        var firstSend: ContinuousClock.Instant?
        var lastNotification: ContinuousClock.Instant?
    }

    private let state = Mutex(State())

    /// Called just before the request is written. `origin` is where latency counts from.
    func sending(_ slot: LoadSchedule.Slot, origin: ContinuousClock.Instant) {
        state.withLock { state in
            state.entries[slot.number] = Entry(origin: origin, measured: slot.measured)
            state.progress.sent += 1
            if state.firstSend == nil { state.firstSend = .now }
        }
    }

    /// The API answered 202 Accepted.
    func accepted(_ number: Int, at instant: ContinuousClock.Instant) {
        state.withLock { state in
            guard var entry = state.entries[number] else { return }
            entry.accepted = true
            state.entries[number] = entry
            state.progress.accepted += 1
            if entry.measured {
                state.http.record(instant - entry.origin)
                state.recentHTTP.record(instant - entry.origin)
            }
        }
    }

    /// Anything but a 202: another status, a connection error, a timeout.
    func failed(_ number: Int, reason: String) {
        state.withLock { state in
            guard var entry = state.entries[number] else { return }
            entry.failed = true
            state.entries[number] = entry
            state.failures[reason, default: 0] += 1
            if entry.notifications == 0 { state.progress.failed += 1 }
        }
    }

    /// The order's notifications.sent event `eventId` was observed (again, when the relay
    /// re-published it: publishing is at-least-once, consumers dedupe by eventId).
    func notified(_ number: Int, eventId: UUID, outcome: NotifiedOutcome, at instant: ContinuousClock.Instant) {
        state.withLock { state in
            guard var entry = state.entries[number] else {
                state.strayNotifications += 1
                return
            }
            entry.notifications += 1
            if !entry.notificationIds.contains(eventId) { entry.notificationIds.append(eventId) }
            entry.outcome = entry.outcome ?? outcome
            state.entries[number] = entry
            guard entry.notifications == 1 else { return }
            state.lastNotification = instant
            if !entry.failed { state.progress.notified += 1 }
            if entry.measured {
                state.e2e.record(instant - entry.origin)
                state.recentE2E.record(instant - entry.origin)
            }
        }
    }

    var progress: Progress { state.withLock { $0.progress } }

    /// Accepted orders still waiting for their notification.
    var awaitingNotification: Int {
        state.withLock { state in state.entries.values.count { $0.accepted && $0.notifications == 0 } }
    }

    /// The p99 of the last window (http, e2e) in microseconds, nil when nothing was recorded;
    /// starts a new window.
    func takeRecentP99() -> (http: UInt64?, e2e: UInt64?) {
        state.withLock { state in
            defer {
                state.recentHTTP.reset()
                state.recentE2E.reset()
            }
            return (
                state.recentHTTP.count > 0 ? state.recentHTTP.valueAtPercentile(99) : nil,
                state.recentE2E.count > 0 ? state.recentE2E.valueAtPercentile(99) : nil
            )
        }
    }

    func summary() -> Summary {
        state.withLock { state in
            var summary = Summary()
            summary.sent = state.progress.sent
            summary.failures = state.failures
            summary.unexpected = state.strayNotifications
            for entry in state.entries.values {
                summary.duplicates += max(0, entry.notificationIds.count - 1)
                summary.redelivered += entry.notifications - entry.notificationIds.count
                if entry.failed {
                    summary.failed += 1
                    if entry.notifications > 0 { summary.unexpected += 1 }
                    continue
                }
                guard entry.accepted else { continue }
                summary.accepted += 1
                if entry.measured { summary.measuredAccepted += 1 }
                switch entry.outcome {
                case .completed: summary.completed += 1
                case .cancelled: summary.cancelled += 1
                case nil: summary.lost += 1
                }
            }
            summary.http = state.http
            summary.e2e = state.e2e
            summary.firstSend = state.firstSend
            summary.lastNotification = state.lastNotification
            return summary
        }
    }
}
