import Foundation
import ServiceKit
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Forwards a child's output to orderd's standard output line by line, each line prefixed with
/// the service name.
///
/// - Whole lines only: a partial line waits for its end. All complete lines of one read are
///   written with one `write(2)`, holding the output lock of ``LogSink/standardOutput``, which
///   orderd's own log lines are written under too, so lines of different services and orderd's
///   never mix, even when the kernel splits a write because the reader is slow.
/// - Bounded memory: a line longer than `maximumLineBytes` is cut into pieces of that size, each
///   but the last ending with ` …`, however the child's writes were split; when orderd's output is
///   slow, the child blocks on its pipe instead of orderd buffering without limit.
/// - A dedicated thread per child does the blocking reads; it ends at EOF (the child and every
///   process holding the pipe exited) and flushes a last partial line.
public enum OutputForwarder {
    /// The longest piece of a line written as one line; longer lines are cut.
    public static let maximumLineBytes = 16 * 1024
    /// As much as a pipe holds by default, so a chatty child is drained in one read.
    static let readBufferBytes = 64 * 1024

    /// Forwards `fd` (a child's output pipe) to `destination` on a new thread, each line
    /// prefixed with `service | `; the thread closes `fd` and ends at EOF.
    public static func start(fd: Int32, service: String, destination: Int32 = STDOUT_FILENO) {
        let thread = Thread {
            forward(fd: fd, prefix: Array("\(service) | ".utf8), destination: destination)
        }
        thread.name = "orderd-output-\(service)"
        thread.start()
    }

    /// Forwards until EOF on the calling thread (blocking); closes `fd`.
    public static func forward(fd: Int32, prefix: [UInt8], destination: Int32) {
        defer { close(fd) }
        var framer = LineFramer(prefix: prefix, maximumLineBytes: maximumLineBytes)
        var chunk = [UInt8](repeating: 0, count: readBufferBytes)
        var output: [UInt8] = []
        output.reserveCapacity(readBufferBytes + 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            // A read of empty lines grows by a prefix per byte; don't keep such a buffer around.
            output.removeAll(keepingCapacity: output.capacity <= 4 * readBufferBytes)
            framer.frame(chunk[0..<count], into: &output)
            writeAll(output, to: destination)
        }
        output.removeAll(keepingCapacity: true)
        framer.finish(into: &output)
        writeAll(output, to: destination)
    }

    /// Writes whole lines: a non-blocking destination that is full is waited for (`EAGAIN` polls
    /// for room), so a line is never cut there. On another error (orderd's output gone) the rest
    /// is dropped, as the child's own lines would be if it wrote there itself.
    private static func writeAll(_ bytes: [UInt8], to destination: Int32) {
        guard !bytes.isEmpty else { return }
        let write = { _ = try? FileDescriptorWriter.writeAll(bytes, to: destination) }
        // The lock belongs to the destination: a forwarder waiting on a full pipe must not hold
        // up one that writes elsewhere.
        if destination == STDOUT_FILENO {
            LogSink.standardOutput.withExclusiveOutput(write)
        } else {
            DestinationLock.for(destination).mutex.withLock { _ in write() }
        }
    }
}

/// The output lock of a destination other than standard output (whose lock is the log sink's).
private final class DestinationLock: Sendable {
    let mutex = Mutex(())

    private static let locks = Mutex<[Int32: DestinationLock]>([:])

    static func `for`(_ descriptor: Int32) -> DestinationLock {
        locks.withLock { locks in
            if let lock = locks[descriptor] { return lock }
            let lock = DestinationLock()
            locks[descriptor] = lock
            return lock
        }
    }
}

/// Turns a byte stream into prefixed, newline-terminated lines of at most `maximumLineBytes`
/// bytes each (plus prefix and marker), keeping at most that many bytes of a partial line.
struct LineFramer {
    private let prefix: [UInt8]
    private let maximumLineBytes: Int
    /// The start of the current line: never more than `maximumLineBytes` between calls.
    private var partial: [UInt8] = []
    private static let newline = UInt8(ascii: "\n")
    private static let continuation = Array(" …".utf8)

    init(prefix: [UInt8], maximumLineBytes: Int) {
        self.prefix = prefix
        self.maximumLineBytes = maximumLineBytes
    }

    /// Appends every line that `chunk` completes, and the pieces of an over-long one, to `output`.
    mutating func frame(_ chunk: ArraySlice<UInt8>, into output: inout [UInt8]) {
        var rest = chunk
        while let newline = rest.firstIndex(of: Self.newline) {
            if partial.isEmpty {
                appendLine(rest[..<newline], into: &output)
            } else {
                partial.append(contentsOf: rest[..<newline])
                appendLine(partial[...], into: &output)
                partial.removeAll(keepingCapacity: true)
            }
            rest = rest[(newline + 1)...]
        }
        partial.append(contentsOf: rest)
        // Only more than a piece is cut here: exactly a piece may still end with the next read.
        var cut = 0
        while partial.count - cut > maximumLineBytes {
            appendPiece(partial[cut..<(cut + maximumLineBytes)], continued: true, into: &output)
            cut += maximumLineBytes
        }
        partial.removeFirst(cut)
    }

    /// Appends the last partial line, if any (the stream ended without a newline).
    mutating func finish(into output: inout [UInt8]) {
        if !partial.isEmpty { appendLine(partial[...], into: &output) }
        partial.removeAll()
    }

    private func appendLine(_ line: ArraySlice<UInt8>, into output: inout [UInt8]) {
        var start = line.startIndex
        while line.endIndex - start > maximumLineBytes {
            appendPiece(line[start..<(start + maximumLineBytes)], continued: true, into: &output)
            start += maximumLineBytes
        }
        appendPiece(line[start...], continued: false, into: &output)
    }

    private func appendPiece(_ piece: ArraySlice<UInt8>, continued: Bool, into output: inout [UInt8]) {
        output.append(contentsOf: prefix)
        output.append(contentsOf: piece)
        if continued { output.append(contentsOf: Self.continuation) }
        output.append(Self.newline)
    }
}
