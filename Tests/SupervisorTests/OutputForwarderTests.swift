import CProcessControl
import Foundation
import Supervisor
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Output forwarding")
struct OutputForwarderTests {
    /// Feeds `chunks` into a pipe as a child would, forwards it, and returns what came out.
    private func forward(_ chunks: [String]) throws -> String {
        var input: [Int32] = [0, 0]
        var output: [Int32] = [0, 0]
        guard cprocesscontrol_pipe_cloexec(&input, 0) == 0, cprocesscontrol_pipe_cloexec(&output, 0) == 0 else {
            throw POSIXError(.EMFILE)
        }
        let (inputRead, inputWrite, outputRead, outputWrite) = (input[0], input[1], output[0], output[1])
        let writer = Thread {
            for chunk in chunks {
                var bytes = Array(chunk.utf8)
                _ = write(inputWrite, &bytes, bytes.count)
                usleep(1000)
            }
            close(inputWrite)
        }
        writer.start()
        let forwarder = Thread {
            OutputForwarder.forward(fd: inputRead, prefix: Array("svc | ".utf8), destination: outputWrite)
            close(outputWrite)
        }
        forwarder.start()
        var collected: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while case let count = read(outputRead, &buffer, buffer.count), count > 0 {
            collected += buffer[0..<count]
        }
        close(outputRead)
        return String(decoding: collected, as: UTF8.self)
    }

    @Test("partial writes are joined into whole lines, each prefixed; a last partial line is flushed")
    func wholeLines() throws {
        let text = try forward(["partial-", "line-complete\nsecond", " line\nlast without newline"])
        #expect(text == "svc | partial-line-complete\nsvc | second line\nsvc | last without newline\n")
    }

    @Test("a very long line is split at the bound, so a chatty child cannot grow orderd's memory")
    func longLines() throws {
        let long = String(repeating: "x", count: OutputForwarder.maximumLineBytes * 2 + 10)
        let lines = try forward([long, "\n", "after\n"]).split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("svc | x") && lines[0].hasSuffix(" …"))
        #expect(lines[2] == "svc | " + String(repeating: "x", count: 10))
        #expect(lines[3] == "svc | after")
    }
}

/// Forwarding one read at a time, into a SOCK_SEQPACKET socket: each `write(2)` of the forwarder
/// arrives as one record, so the tests see how the lines were grouped into writes.
@Suite("Output forwarding, write by write", .timeLimit(.minutes(1)))
struct OutputForwarderWriteTests {
    @Test("all complete lines of one read go out in one write")
    func oneWritePerRead() throws {
        let forwarder = try RecordingForwarder()
        let lines = (0..<500).map { "line \($0) of a chatty child" }
        // Written before forwarding starts and smaller than a read, so it is exactly one read.
        forwarder.send(lines.map { $0 + "\n" }.joined())
        forwarder.start()
        #expect(forwarder.nextRecord() == lines.map { "svc | \($0)\n" }.joined())
        forwarder.closeInput()
        #expect(forwarder.nextRecord() == nil)
    }

    @Test("a partial line waits for the read that ends it, and is written with that read's lines")
    func partialLineAcrossReads() throws {
        let forwarder = try RecordingForwarder()
        forwarder.start()
        forwarder.send("one\ntwo\nthr")
        #expect(forwarder.nextRecord() == "svc | one\nsvc | two\n")
        forwarder.send("ee\nfour\nfi")
        #expect(forwarder.nextRecord() == "svc | three\nsvc | four\n")
        forwarder.send("ve")
        forwarder.closeInput()
        #expect(forwarder.nextRecord() == "svc | five\n")
        #expect(forwarder.nextRecord() == nil)
    }

    @Test("a long line among short ones in one read is cut at the bound, the lines around it intact")
    func longLineWithinOneRead() throws {
        let forwarder = try RecordingForwarder()
        let maximum = OutputForwarder.maximumLineBytes
        forwarder.send("before\n" + String(repeating: "z", count: 2 * maximum + 5) + "\nafter\n")
        forwarder.start()
        let z = String(repeating: "z", count: maximum)
        #expect(forwarder.nextRecord() == "svc | before\nsvc | \(z) …\nsvc | \(z) …\nsvc | zzzzz\nsvc | after\n")
    }

    @Test("a line of exactly the bound is not cut, even when its newline comes in the next read")
    func lineOfExactlyTheBound() throws {
        let forwarder = try RecordingForwarder()
        let line = String(repeating: "y", count: OutputForwarder.maximumLineBytes)
        forwarder.start()
        forwarder.send(line)
        forwarder.send("\nnext\n")
        forwarder.closeInput()
        var records = ""
        while let record = forwarder.nextRecord() { records += record }
        #expect(records == "svc | \(line)\nsvc | next\n")
    }
}

/// A forwarder reading a pipe the test writes, into a SOCK_SEQPACKET socket the test reads.
private final class RecordingForwarder {
    private let inputRead: Int32
    private var inputWrite: Int32
    private let recordsWrite: Int32
    private let recordsRead: Int32
    private var started = false

    init() throws {
        var input: [Int32] = [0, 0]
        var records: [Int32] = [0, 0]
        guard cprocesscontrol_pipe_cloexec(&input, 0) == 0,
            socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &records) == 0
        else {
            throw POSIXError(.EMFILE)
        }
        (inputRead, inputWrite, recordsWrite, recordsRead) = (input[0], input[1], records[0], records[1])
    }

    /// Ends the input and reads the forwarder's last writes before closing the socket: a write to a
    /// closed socket would raise SIGPIPE, which the test process does not ignore.
    deinit {
        if inputWrite >= 0 { close(inputWrite) }
        if started {
            while nextRecord(reportingTimeout: false) != nil {}
        } else {
            close(inputRead)
        }
        close(recordsRead)
    }

    func start() {
        started = true
        let (input, destination) = (inputRead, recordsWrite)
        Thread {
            OutputForwarder.forward(fd: input, prefix: Array("svc | ".utf8), destination: destination)
            close(destination)
        }.start()
    }

    func send(_ text: String) {
        var bytes = Array(text.utf8)
        #expect(write(inputWrite, &bytes, bytes.count) == bytes.count)
    }

    func closeInput() {
        close(inputWrite)
        inputWrite = -1
    }

    /// The next write of the forwarder; nil once it ended (EOF), or when none comes within `timeout`.
    func nextRecord(timeout: Duration = .seconds(10), reportingTimeout: Bool = true) -> String? {
        var descriptor = pollfd(fd: recordsRead, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(timeout.components.seconds * 1000)
        guard poll(&descriptor, 1, milliseconds) == 1 else {
            if reportingTimeout { Issue.record("no write from the forwarder within \(timeout)") }
            return nil
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        let count = read(recordsRead, &buffer, buffer.count)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }
}
