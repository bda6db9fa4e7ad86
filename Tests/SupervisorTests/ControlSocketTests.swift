import Foundation
@testable import Supervisor
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The control socket's setup on a real file system: who may reach it, and what is refused.
@Suite("Control socket")
struct ControlSocketTests {
    /// A fresh directory under the temporary directory, removed by `body`'s end.
    func withDirectory(_ body: (String) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "control-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(directory)
    }

    /// Binds and listens on `path` the way the server does; the descriptor to close.
    func listen(at path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = try #require(sockaddr_un(path: path))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(bound == 0 && Glibc.listen(fd, 8) == 0, "bind \(path): \(String(cString: strerror(errno)))")
        return fd
    }

    func mode(_ path: String) -> (type: mode_t, permissions: mode_t, gid: gid_t)? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return (info.st_mode & S_IFMT, info.st_mode & 0o7777, info.st_gid)
    }

    func failure(_ path: String, group: String? = nil) -> ControlSocket.SetupError? {
        do {
            _ = try ControlSocket.prepare(path, group: group)
            return nil
        } catch {
            return error
        }
    }

    @Test(
        "a missing directory is made 0700; the socket is reachable only at 0600, at its path; a second orderd is refused"
    )
    func publishOwnerOnly() throws {
        try withDirectory { root in
            let path = "\(root)/run/orderd.sock"
            let socket = try ControlSocket.prepare(path, group: nil)
            #expect(mode("\(root)/run")?.permissions == 0o700)
            #expect(mode((socket.bindPath as NSString).deletingLastPathComponent)?.permissions == 0o700)
            let fd = try listen(at: socket.bindPath)
            defer { close(fd) }
            #expect(!FileManager.default.fileExists(atPath: path), "not reachable before it has its mode")
            try socket.publish()
            #expect(mode(path)?.type == S_IFSOCK)
            #expect(mode(path)?.permissions == 0o600)
            #expect(ControlSocket.isListening(path))
            #expect(mode((socket.bindPath as NSString).deletingLastPathComponent) == nil, "the bind directory is gone")
            guard case .inUse(path)? = failure(path) else {
                Issue.record("a second prepare while the lock is held: \(String(describing: failure(path)))")
                return
            }
            socket.remove()
            #expect(mode(path) == nil)
        }
    }

    @Test("with socket_group: 0660 and owned by that group; an unknown group is refused naming the key")
    func publishToGroup() throws {
        try withDirectory { root in
            let group = String(cString: try #require(getgrgid(getegid())).pointee.gr_name)
            let socket = try ControlSocket.prepare("\(root)/orderd.sock", group: group)
            let fd = try listen(at: socket.bindPath)
            defer { close(fd) }
            try socket.publish()
            #expect(mode("\(root)/orderd.sock")?.permissions == 0o660)
            #expect(mode("\(root)/orderd.sock")?.gid == getegid())

            let unknown = failure("\(root)/other.sock", group: "no-such-group-here")
            #expect(unknown?.description.contains("orderd.socket_group no-such-group-here does not exist") == true)
        }
    }

    @Test("a stale socket nobody listens on is replaced")
    func staleSocket() throws {
        try withDirectory { root in
            let path = "\(root)/orderd.sock"
            close(try listen(at: path))
            #expect(mode(path)?.type == S_IFSOCK)
            let socket = try ControlSocket.prepare(path, group: nil)
            #expect(mode(path) == nil)
            socket.remove()
        }
    }

    @Test("a file at the socket path that is not a socket is refused and left alone")
    func notASocket() throws {
        try withDirectory { root in
            let path = "\(root)/orderd.sock"
            try "keep me".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(failure(path)?.description.contains("it exists and is not a socket") == true)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
        }
    }

    @Test("a directory that other users may write to is refused, sticky (like /tmp) or not")
    func writableDirectory() throws {
        try withDirectory { root in
            for mode: mode_t in [0o777, 0o1777, 0o775] {
                chmod(root, mode)
                let message = failure("\(root)/orderd.sock")?.description ?? ""
                #expect(message.contains("is writable by other users (mode \(String(mode, radix: 8)))"), "\(message)")
                #expect(permissions(of: "\(root)/orderd.sock.lock") == nil, "no lock made there")
            }
            chmod(root, 0o755)
            try ControlSocket.prepare("\(root)/orderd.sock", group: nil).remove()
        }
    }

    func permissions(of path: String) -> mode_t? { mode(path)?.permissions }

    @Test("a symbolic link as the socket's directory is not followed")
    func linkedDirectory() throws {
        try withDirectory { root in
            try FileManager.default.createDirectory(atPath: "\(root)/real", withIntermediateDirectories: false)
            try FileManager.default.createSymbolicLink(atPath: "\(root)/link", withDestinationPath: "\(root)/real")
            let message = failure("\(root)/link/orderd.sock")?.description ?? ""
            #expect(message.contains("\(root)/link is not a directory"), "\(message)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/real").isEmpty, "no lock made there")
        }
    }

    @Test(
        "a directory owned by another user is refused: it could swap the socket or hold the lock",
        .enabled(if: geteuid() == 0, "giving a directory to another user needs root (CI runs as root)")
    )
    func foreignDirectory() throws {
        try withDirectory { root in
            try #require(chown(root, 65534, 65534) == 0)
            let message = failure("\(root)/orderd.sock")?.description ?? ""
            #expect(message.contains("is owned by uid 65534, not by orderd's user (uid 0) or root"), "\(message)")
        }
    }
}
