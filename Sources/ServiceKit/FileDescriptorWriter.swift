#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a whole buffer to a file descriptor, blocking or not: the one write loop of the log sink
/// and of orderd's output forwarding, so both keep lines whole the same way.
///
/// - `EINTR` is retried.
/// - `EAGAIN`/`EWOULDBLOCK` (a non-blocking descriptor, for example a standard output shared with a
///   parent that set `O_NONBLOCK`) waits in `poll(2)` for `POLLOUT`, then continues where it was:
///   a full pipe delays the rest, it never cuts a line.
/// - Any other error stops the loop; the failure says how much was written before it.
/// - Blocks the calling thread until done: call it from a dedicated thread, never from the
///   cooperative pool.
package enum FileDescriptorWriter {
    /// Why the loop stopped before writing everything.
    package struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// The `errno` of the failed `write(2)`; 0 when it wrote nothing without an error.
        package var errno: Int32
        /// The bytes written before the failure; the rest of the buffer was not.
        package var written: Int

        package var description: String {
            "write failed after \(written) bytes: \(String(cString: strerror(errno)))"
        }
    }

    /// Writes all of `bytes` to `fileDescriptor`.
    /// - Parameter wrote: called after each successful `write(2)` with its byte count (for
    ///   accounting as the buffer drains).
    /// - Throws: ``Failure`` on an error other than `EINTR` or `EAGAIN`.
    package static func writeAll(
        _ bytes: UnsafeRawBufferPointer,
        to fileDescriptor: Int32,
        wrote: (Int) -> Void = { _ in }
    ) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let written = write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written > 0 {
                offset += written
                wrote(written)
                continue
            }
            let error = written < 0 ? errno : 0
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK {
                // Wait for room instead of spinning; a reader that went away wakes this with POLLERR
                // and the next write reports EPIPE.
                var descriptor = pollfd(fd: fileDescriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&descriptor, 1, -1)
                continue
            }
            throw Failure(errno: error, written: offset)
        }
    }

    /// Writes all of `bytes` to `fileDescriptor`, as the overload taking a buffer does.
    package static func writeAll(
        _ bytes: [UInt8],
        to fileDescriptor: Int32,
        wrote: (Int) -> Void = { _ in }
    ) throws(Failure) {
        // withUnsafeBytes rethrows untyped; carry the typed failure out by hand.
        let failure = bytes.withUnsafeBytes { buffer -> Failure? in
            do throws(Failure) {
                try writeAll(buffer, to: fileDescriptor, wrote: wrote)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }
}
