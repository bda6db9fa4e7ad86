import Foundation
import Logging
import ServiceLifecycle

/// How a service's graceful shutdown (SIGTERM) is split, so that it ends by itself within
/// orderd's default `stop_timeout` of 10 s even when Kafka is unreachable. The parts stop one
/// after the other (a `ServiceGroup` shuts down in reverse order), each within its own budget:
/// what a part cannot finish in time is left for the next start, never lost (effects are
/// committed transactions; unsent outbox rows stay in the outbox; uncommitted offsets are
/// delivered again).
public enum ShutdownBudget {
    /// The consumer: finish the batch in flight, commit, close (a close the broker does not
    /// answer is abandoned; the group expires the member after its session timeout).
    public static let consumerClose: Duration = .seconds(3)
    /// The outbox relay: publish what is pending, then settle the producer.
    public static let relayDrain: Duration = .seconds(3)
    /// The producer's final flush.
    public static let producerFlush: Duration = .seconds(1)
    /// The `ServiceGroup`'s whole graceful shutdown: the parts above plus the order API's, with
    /// a second to spare.
    public static let graceful: Duration = .seconds(8)
    /// The end of the line: a process still running this long after SIGTERM exits (status 1).
    public static let deadline: Duration = .seconds(9)
}

/// Ends the process ``ShutdownBudget/deadline`` after graceful shutdown began if it has not
/// ended by then: a part that ignores its budget must not keep the process alive until orderd's
/// SIGKILL, nor reach ServiceLifecycle's `fatalError` for an overlong cancellation. Logs what
/// happened, flushes the log and calls `_exit(1)` (see ``ServiceHost``'s `exitAbruptly`).
struct ShutdownDeadline: Service {
    let logger: Logger

    func run() async {
        // Returns when graceful shutdown begins; throws when the group is cancelled (it is
        // ending anyway).
        guard (try? await gracefulShutdown()) != nil else { return }
        let logger = self.logger
        let seconds = Double(ShutdownBudget.deadline.components.seconds)
        let thread = Thread {
            Thread.sleep(forTimeInterval: seconds)
            logger.critical("graceful shutdown did not finish within \(ShutdownBudget.deadline); exiting")
            ServiceHost.exitAbruptly(1)
        }
        thread.name = "shutdown-deadline"
        thread.start()
    }
}
