import Foundation
import NIOPosix
import Synchronization

/// Where the module's blocking librdkafka calls run, off Swift's cooperative pool.
enum BlockingPool {
    /// One pool for every short blocking call (metadata, readiness probes, flush, topic
    /// administration), shared by all clients of the process and never shut down. Its threads
    /// are started once, lazily, and sleep while idle. A call waits for a free thread when all
    /// are busy, so there are more than a service ever has at once (a readiness probe of up to
    /// 2 s, an `ensureTopics` of up to 30 s, a shutdown flush of up to 10 s per producer), which
    /// also leaves room for a test process running many clients side by side.
    static let shared: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 8)
        pool.start()
        return pool
    }()

    /// Runs `body` on ``shared`` and returns its result. Not cancellable: the blocking call is
    /// bounded by its own timeout, and its result (a flush, a created topic) must not be lost.
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            // The pool is never stopped, so every work item runs (its state is always active).
            shared.submit { _ in continuation.resume(returning: body()) }
        }
    }
}

extension BlockingPool {
    /// Runs `body` on ``shared``, like ``run(_:)``, except that cancelling the caller ends its
    /// wait at once: it then returns nil while `body` runs on to its own timeout and its result
    /// is dropped. Only for calls whose result may be lost, such as reads and idempotent
    /// changes, and whose body owns everything it touches.
    static func runUnlessCancelled<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T? {
        let waiter = Waiter<T>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
                waiter.continuation.withLock { $0 = continuation }
                if Task.isCancelled { waiter.resume(with: nil) }
                shared.submit { _ in waiter.resume(with: body()) }
            }
        } onCancel: {
            waiter.resume(with: nil)
        }
    }

    /// The caller's continuation, resumed once: by the result or by the cancellation, first wins.
    private final class Waiter<T: Sendable>: Sendable {
        let continuation = Mutex<CheckedContinuation<T?, Never>?>(nil)

        func resume(with value: T?) {
            continuation.withLock { current in
                defer { current = nil }
                return current
            }?.resume(returning: value)
        }
    }
}

/// The one long-running thread of a producer or consumer, outside Swift's cooperative pool
/// (its loop blocks in librdkafka).
enum PollThread {
    /// Starts `body` on a new named thread; the thread ends when `body` returns.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }
}
