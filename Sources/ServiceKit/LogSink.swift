import Dispatch
import Foundation
import Metrics
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bounded in-memory buffer of log lines, written to a file descriptor by a dedicated thread.
///
/// - Cheap for the caller: appending a line copies the line into the buffer under a mutex and
///   returns. The one syscall it can make is waking the writer after the writer found nothing to do
///   for ``batchingInterval`` (a futex wake, which never blocks); under steady logging it makes none.
/// - Whole lines, in order: lines are written in the order their `append` calls took the mutex,
///   accumulated into as few `write(2)` calls as possible. A batch is written under the sink's output
///   lock (``withExclusiveOutput(_:)``), so even a write the kernel splits because the reader is slow
///   is not interleaved with another writer of the same descriptor that takes that lock too.
/// - Bounded: at most `capacity` bytes wait, buffered or being written (one line longer than that is
///   accepted when nothing waits). A line that does not fit is dropped, never waited for; drops are
///   counted in the swift-metrics counter `log_lines_dropped_total` and, once there is room again,
///   reported in the output itself by a line
///   `… warning <label>: 1234 log lines dropped: standard output was not keeping up`, in the place
///   where the lines are missing.
/// - Failure: when the reader is gone (`EPIPE`) or the descriptor is bad (`EBADF`), writing stops for
///   good and every later line is dropped and counted; other write errors lose that batch only.
///   `SIGPIPE` is blocked on the writer thread, so this holds in a process that does not ignore it.
/// - The sink does not own its descriptor: it never closes it. Its thread ends once the sink is
///   released and what was appended is written.
public final class LogSink: Sendable {
    /// Standard output, for every ``LineLogHandler`` made without a sink. Created on first use.
    ///
    /// `exit(3)` flushes it for up to ``exitFlushTimeout``, so lines logged just before any exit
    /// (a `return` from an ArgumentParser command, `exit(1)` after a fatal error) are not lost;
    /// a crash or `_exit(2)` loses what is still buffered.
    public static let standardOutput: LogSink = {
        let sink = LogSink(fileDescriptor: STDOUT_FILENO)
        atexit { _ = LogSink.standardOutput.flush(timeout: LogSink.exitFlushTimeout) }
        return sink
    }()

    /// How long `exit(3)` waits for standard output: bounded, so a reader that stopped reading
    /// delays the exit by at most this much instead of hanging it.
    public static let exitFlushTimeout: Duration = .milliseconds(500)

    /// The default bound on waiting bytes: 1 MiB, several seconds of the busiest service's logs.
    public static let defaultCapacity = 1 << 20

    /// How long the writer waits for more lines after a write before it sleeps until woken: it turns
    /// a burst of lines into one `write(2)` and spares the logging threads a wake-up per line.
    public static let batchingInterval: Duration = .milliseconds(5)

    private let core: LogSinkCore

    /// - Parameters:
    ///   - fileDescriptor: where lines go; a blocking or non-blocking descriptor, left open.
    ///   - capacity: the most bytes that may wait to be written before lines are dropped.
    public init(fileDescriptor: Int32, capacity: Int = LogSink.defaultCapacity) {
        core = LogSinkCore(fileDescriptor: fileDescriptor, capacity: max(capacity, 1))
        let thread = Thread { [core] in core.run() }
        thread.name = "log-writer"
        thread.start()
    }

    deinit {
        core.stop()
    }

    /// Queues one rendered line (ending with its only newline) for writing, or drops it when the sink
    /// is full or its output is gone. Never blocks on the output. `label` names the logger in the
    /// drop notice.
    func append(_ line: [UInt8], label: String) {
        core.append(line, label: label)
    }

    /// Blocks until every line appended before the call is written (or lost to a write error), or
    /// `timeout` passes. Safe from any thread; meant for the moments before a process exits.
    ///
    /// - Returns: `false` if the timeout passed first, for example because the reader is not reading.
    @discardableResult
    public func flush(timeout: Duration) -> Bool {
        core.flush(timeout: timeout)
    }

    /// Lines dropped since the sink was made: refused for lack of room, or lost to write errors.
    public var droppedLines: Int {
        core.droppedLines
    }

    /// Runs `body` while no batch of this sink is being written, and keeps the sink's writer from
    /// starting one until it returns: for code that writes to the same descriptor itself (orderd
    /// forwarding its children's lines to its own standard output) and must not split a line.
    ///
    /// `body` may block (a slow reader); meanwhile this sink keeps accepting lines up to its bound.
    public func withExclusiveOutput(_ body: () -> Void) {
        core.outputLock.withLock { _ in body() }
    }
}

/// The shared part of a ``LogSink``: its state, the writer thread's loop and the waits.
private final class LogSinkCore: Sendable {
    let outputLock = Mutex(())
    private let state = Mutex(LogSinkState())
    private let fileDescriptor: Int32
    private let capacity: Int
    /// Signalled to wake the writer from a linger or a sleep; a surplus signal costs one empty turn.
    private let wake = DispatchSemaphore(value: 0)
    /// Signalled after each batch while someone flushes; a surplus signal costs one re-check.
    private let progress = DispatchSemaphore(value: 0)

    init(fileDescriptor: Int32, capacity: Int) {
        self.fileDescriptor = fileDescriptor
        self.capacity = capacity
    }

    var droppedLines: Int {
        state.withLock { $0.droppedTotal }
    }

    func append(_ line: [UInt8], label: String) {
        switch state.withLock({ $0.append(line, label: label, capacity: capacity) }) {
        case .buffered: break
        case .bufferedWakingWriter: wake.signal()
        case .dropped: Counter(label: "log_lines_dropped_total").increment()
        }
    }

    func stop() {
        state.withLock { $0.stopping = true }
        wake.signal()
    }

    func flush(timeout: Duration) -> Bool {
        let deadline = DispatchTime.now() + DispatchTimeInterval.nanoseconds(Self.nanoseconds(timeout))
        let (target, lingering) = state.withLock { state in
            state.flushWaiters += 1
            return (state.accepted, state.phase == .lingering)
        }
        defer { state.withLock { $0.flushWaiters -= 1 } }
        // The writer may be waiting for more lines; what is buffered should go now.
        if lingering { wake.signal() }
        while true {
            if state.withLock({ $0.settled >= target }) { return true }
            if progress.wait(timeout: deadline) == .timedOut {
                return state.withLock { $0.settled >= target }
            }
        }
    }

    /// The writer thread's loop.
    func run() {
        // A write to a pipe whose reader is gone then fails with EPIPE instead of killing the process.
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &blocked, nil)

        var batch: [UInt8] = []
        while true {
            // A burst can leave a large array behind; keep a moderate one for the next batches.
            batch.removeAll(keepingCapacity: batch.capacity <= 256 * 1024)
            switch state.withLock({ $0.nextStep(taking: &batch, capacity: capacity) }) {
            case .write:
                outputLock.withLock { _ in writeBatch(batch) }
                if state.withLock({ $0.flushWaiters > 0 }) { progress.signal() }
            case .linger:
                _ = wake.wait(
                    timeout: DispatchTime.now()
                        + DispatchTimeInterval.nanoseconds(Self.nanoseconds(LogSink.batchingInterval))
                )
            case .sleep:
                wake.wait()
            case .stop:
                return
            }
        }
    }

    /// Writes a batch of whole lines, accounting each write(2) so that room frees up as it goes. A
    /// full non-blocking descriptor is waited for (see ``FileDescriptorWriter``), never cut.
    private func writeBatch(_ batch: [UInt8]) {
        do {
            try FileDescriptorWriter.writeAll(batch, to: fileDescriptor) { written in
                state.withLock { $0.wrote(written) }
            }
        } catch {
            let rest = batch[error.written...]
            let lostLines = rest.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            let outputGone = error.errno == EPIPE || error.errno == EBADF
            let dropped = state.withLock { $0.lost(bytes: rest.count, lines: lostLines, outputGone: outputGone) }
            Counter(label: "log_lines_dropped_total").increment(by: dropped)
        }
    }

    private static func nanoseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        guard seconds < Int64(Int.max / 1_000_000_000) - 1 else { return Int.max }
        return Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
    }
}
