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
        guard pipe(&input) == 0, pipe(&output) == 0 else { throw POSIXError(.EMFILE) }
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
