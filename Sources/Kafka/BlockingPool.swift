import Foundation
import NIOPosix

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
