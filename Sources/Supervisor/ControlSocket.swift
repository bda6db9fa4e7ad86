import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The control API's Unix socket on disk, set up so that no other user can reach it, replace it
/// or hold its lock:
///
/// - its directory is created 0700 when missing; an existing one must be a real directory (not a
///   link) owned by orderd's user or root, and writable by nobody else (not even sticky, like
///   `/tmp`), or orderd refuses to start: another user could otherwise swap the socket or squat
///   the lock;
/// - an exclusive `flock` on `<path>.lock`, held for the life of the process, keeps a second
///   orderd from taking over a running one's socket;
/// - the server binds in a private 0700 directory beside `path`; ``publish()`` gives the
///   socket its mode (0600, or 0660 for `socket_group`) there and only then renames it to
///   `path`. A socket's mode cannot be set before `bind` (a descriptor's `fchmod` does not reach
///   the file on Linux) and `umask` is per process, so this is how the socket is never reachable
///   with a looser mode, not even between `bind` and `chmod`.
public struct ControlSocket: Sendable {
    /// Why the control socket could not be set up; orderd exits instead of running without it.
    public enum SetupError: Error, CustomStringConvertible {
        /// Another orderd holds the socket's lock (the path).
        case inUse(String)
        /// The socket or its directory cannot be created, bound or trusted (the path, the reason).
        case unusable(String, String)

        /// Names the path and says what to do.
        public var description: String {
            switch self {
            case .inUse(let path):
                "another orderd is already running on \(path); stop it first (orderd status shows it)"
            case .unusable(let path, let reason): "cannot use control socket \(path): \(reason)"
            }
        }
    }

    /// The longest `path`: a Unix socket path has at most 107 bytes, and the bind path is
    /// `<path>.d/s`.
    public static let maximumPathBytes = 103

    /// Where clients connect.
    public let path: String
    /// Where the server binds, in a directory only orderd's user can enter.
    public let bindPath: String

    /// The group that may use the socket (mode 0660), or nil for its owner only (0600).
    public let group: gid_t?

    /// Checks the directory and `group`, takes the lock, removes a stale socket, and makes the
    /// private bind directory. Throws ``SetupError/inUse(_:)`` while another orderd runs on `path`.
    public static func prepare(_ path: String, group: String?) throws(SetupError) -> ControlSocket {
        var gid: gid_t?
        if let group {
            guard let entry = getgrnam(group) else {
                throw .unusable(path, "orderd.socket_group \(group) does not exist; create it or remove the key")
            }
            gid = entry.pointee.gr_gid
        }
        let directory = (path as NSString).deletingLastPathComponent
        if mkdir(directory, 0o700) != 0, errno != EEXIST {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory,
                    withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700]
                )
            } catch {
                throw .unusable(path, "cannot create \(directory): \(error.localizedDescription)")
            }
        }
        if let problem = untrusted(directory) {
            throw .unusable(path, "\(directory) \(problem); remove it, or set orderd.socket_path to another directory")
        }
        let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard lock >= 0 else { throw .unusable(path, "cannot open \(path).lock: \(String(cString: strerror(errno)))") }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            close(lock)
            throw .inUse(path)
        }
        // The descriptor stays open (and locked) until the process exits, unless this fails.
        do throws(SetupError) {
            let staging = try clear(path)
            return ControlSocket(path: path, bindPath: staging + "/s", group: gid)
        } catch {
            close(lock)
            throw error
        }
    }

    /// Removes a stale socket at `path` and makes a fresh bind directory; returns its path.
    private static func clear(_ path: String) throws(SetupError) -> String {
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else {
                throw .unusable(path, "it exists and is not a socket; remove it if nothing else owns it")
            }
            if isListening(path) { throw .inUse(path) }
            guard unlink(path) == 0 else {
                throw .unusable(path, "cannot remove the stale socket: \(String(cString: strerror(errno)))")
            }
        }
        let staging = path + ".d"
        removeStaging(staging)
        guard mkdir(staging, 0o700) == 0 else {
            throw .unusable(path, "cannot create \(staging): \(String(cString: strerror(errno)))")
        }
        return staging
    }

    /// Gives the bound socket its mode (0600, or 0660 owned by ``group``), then moves it to
    /// ``path``; from then on clients can connect.
    public func publish() throws(SetupError) {
        if let group, chown(bindPath, uid_t.max, group) != 0 {
            throw .unusable(path, "cannot give it to group \(group): \(String(cString: strerror(errno)))")
        }
        guard chmod(bindPath, group == nil ? 0o600 : 0o660) == 0, rename(bindPath, path) == 0 else {
            throw .unusable(path, "cannot move the bound socket into place: \(String(cString: strerror(errno)))")
        }
        rmdir((bindPath as NSString).deletingLastPathComponent)
    }

    /// Removes the socket (at shutdown) and whatever a failed start left in the bind directory.
    public func remove() {
        unlink(path)
        Self.removeStaging((bindPath as NSString).deletingLastPathComponent)
    }

    /// True when something accepts connections on the Unix socket `path`.
    public static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard var address = sockaddr_un(path: path) else { return false }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }

    /// What makes `directory` unsafe to hold the socket, or nil.
    static func untrusted(_ directory: String) -> String? {
        var info = stat()
        guard lstat(directory, &info) == 0 else { return "cannot be read: \(String(cString: strerror(errno)))" }
        guard info.st_mode & S_IFMT == S_IFDIR else { return "is not a directory (a symbolic link is not followed)" }
        guard info.st_uid == geteuid() || info.st_uid == 0 else {
            return "is owned by uid \(info.st_uid), not by orderd's user (uid \(geteuid())) or root"
        }
        // Even a sticky directory (/tmp) is refused: others cannot remove orderd's files there,
        // but they can create the lock, the socket or the bind directory before orderd does.
        guard info.st_mode & (S_IWGRP | S_IWOTH) == 0 else {
            return "is writable by other users (mode \(String(info.st_mode & 0o7777, radix: 8)))"
        }
        return nil
    }

    /// The bind directory holds at most the socket a crashed orderd left behind.
    private static func removeStaging(_ staging: String) {
        unlink(staging + "/s")
        rmdir(staging)
    }
}

extension sockaddr_un {
    /// The address of the Unix socket at `path`; nil when `path` does not fit (over 107 bytes).
    init?(path: String) {
        self.init()
        sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: sun_path) else { return nil }
        withUnsafeMutableBytes(of: &sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
    }
}
