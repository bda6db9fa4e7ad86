import CProcessControl
import Foundation
import Supervisor
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// orderd's standard output can be non-blocking (a parent set `O_NONBLOCK` on a shared pipe): a
/// full pipe then answers `EAGAIN`, which must delay the forwarder, never cut a line.
@Suite("Output forwarding into a non-blocking pipe", .timeLimit(.minutes(1)))
struct OutputForwarderNonBlockingTests {
    @Test("a non-blocking destination drained slowly gets every line whole, in order")
    func nonBlockingSlowReader() throws {
        var input: [Int32] = [0, 0]
        var output: [Int32] = [0, 0]
        // Close-on-exec: a process another test spawns meanwhile must not inherit a write end and
        // hold the forwarder's EOF back.
        guard cprocesscontrol_pipe_cloexec(&input, 0) == 0, cprocesscontrol_pipe_cloexec(&output, 0) == 0 else {
            throw POSIXError(.EMFILE)
        }
        let (inputRead, inputWrite, outputRead, outputWrite) = (input[0], input[1], output[0], output[1])
        defer { close(outputRead) }
        try #require(fcntl(outputWrite, F_SETFL, fcntl(outputWrite, F_GETFL) | O_NONBLOCK) == 0)

        // About 500 KB, eight times what the pipe holds; each read of the forwarder (up to 64 KiB)
        // is more than the pipe has room for, so its writes keep meeting EAGAIN.
        let count = 5_000
        let padding = String(repeating: "p", count: 80)
        let writer = Thread {
            for line in 0..<count {
                let bytes = Array("line \(line) \(padding)\n".utf8)
                bytes.withUnsafeBytes { buffer in
                    var offset = 0
                    while offset < buffer.count {
                        let written = write(inputWrite, buffer.baseAddress! + offset, buffer.count - offset)
                        if written < 0 { if errno == EINTR { continue } else { break } }
                        offset += written
                    }
                }
            }
            close(inputWrite)
        }
        writer.start()
        let forwarder = Thread {
            OutputForwarder.forward(fd: inputRead, prefix: Array("svc | ".utf8), destination: outputWrite)
            close(outputWrite)
        }
        forwarder.start()

        // Read nothing until the pipe is full, so the forwarder certainly met EAGAIN with lines left.
        let deadline = ContinuousClock.now + .seconds(30)
        var queued: Int32 = 0
        while ioctl(outputRead, UInt(FIONREAD), &queued) == 0, queued < 60 * 1024 {
            try #require(ContinuousClock.now < deadline, "the pipe never filled: \(queued) bytes queued")
            usleep(1000)
        }

        // Then drain in small reads, slower than the forwarder writes, until EOF.
        var collected: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            var descriptor = pollfd(fd: outputRead, events: Int16(POLLIN), revents: 0)
            // Generous: the whole suite runs in parallel on two cores, platforms included.
            try #require(poll(&descriptor, 1, 30_000) == 1, "no output from the forwarder within 30 s")
            let read = read(outputRead, &buffer, buffer.count)
            if read < 0, errno == EINTR { continue }
            guard read > 0 else { break }
            collected += buffer[0..<read]
        }

        let lines = String(decoding: collected, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.last == "", "the output does not end with a newline")
        let mismatch = lines.indices.dropLast().first { lines[$0] != "svc | line \($0) \(padding)" }
        #expect(
            mismatch == nil,
            "line \(mismatch ?? -1) is not whole: \(mismatch.map { String(lines[$0].prefix(200)) } ?? "")"
        )
        #expect(lines.count == count + 1, "got \(lines.count - 1) lines, expected \(count)")
    }
}
