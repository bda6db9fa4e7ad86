#if canImport(Glibc)
import Glibc
#endif

/// A Unix datagram socket standing in for systemd's `NOTIFY_SOCKET`: orderd sends `READY=1`
/// there once every service is ready, which is how the bench times the platform's start-up.
///
/// Non-blocking and polled (``poll()``) by the task that waits for readiness, so no thread
/// waits on it. The instant is taken when the datagram is read, so it is late by at most the
/// polling interval.
final class NotifySocket: Sendable {
    let path: String
    private let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    static func bind(path: String) throws(BenchError) -> NotifySocket {
        unlink(path)
        let descriptor = socket(
            AF_UNIX,
            Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
            0
        )
        guard descriptor >= 0 else {
            throw .platform("cannot create the notify socket: \(String(cString: strerror(errno)))", log: nil)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(descriptor)
            throw .platform("the notify socket path is too long for a Unix socket: \(path)", log: nil)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw .platform("cannot bind the notify socket \(path): \(reason)", log: nil)
        }
        return NotifySocket(path: path, descriptor: descriptor)
    }

    /// Reads every datagram waiting; true when one of them has a `READY=1` line (sd_notify's
    /// format: newline-separated assignments). Never blocks.
    func poll() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var ready = false
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { return ready }
            let text = String(decoding: buffer[0..<count], as: UTF8.self)
            if text.split(separator: "\n").contains("READY=1") { ready = true }
        }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }
}
