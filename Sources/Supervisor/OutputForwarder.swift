import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Forwards a child's output to orderd's standard output line by line, each line prefixed with
/// the service name.
///
/// - Whole lines only: a line is written with one `write(2)` under a process-wide lock, so
///   lines of different services never mix, and a partial line waits for its end.
/// - Bounded memory: a line longer than `maximumLineBytes` is cut and continued on the next
///   line; when orderd's output is slow, the child blocks on its pipe instead of orderd
///   buffering without limit.
/// - A dedicated thread per child does the blocking reads; it ends at EOF (the child and every
///   process holding the pipe exited) and flushes a last partial line.
public enum OutputForwarder {
    public static let maximumLineBytes = 16 * 1024
    private static let outputLock = NSLock()

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
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            pending.append(contentsOf: chunk[0..<count])
            var start = 0
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                emit(prefix, pending[start..<newline], destination: destination)
                start = newline + 1
            }
            pending.removeFirst(start)
            while pending.count >= maximumLineBytes {
                emit(prefix, pending[0..<maximumLineBytes], destination: destination, continued: true)
                pending.removeFirst(maximumLineBytes)
            }
        }
        if !pending.isEmpty { emit(prefix, pending[...], destination: destination) }
    }

    private static func emit(_ prefix: [UInt8], _ line: ArraySlice<UInt8>, destination: Int32, continued: Bool = false) {
        var bytes = prefix
        bytes.append(contentsOf: line)
        if continued { bytes.append(contentsOf: Array(" …".utf8)) }
        bytes.append(UInt8(ascii: "\n"))
        outputLock.lock()
        defer { outputLock.unlock() }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(destination, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}
