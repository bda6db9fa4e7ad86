import CProcessControl
import Foundation
import Logging
import OrderEvents
@testable import ServiceKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Line log handler and its buffered sink", .timeLimit(.minutes(2)))
struct LineLogHandlerTests {
    @Test(
        "a control character in the message, an order id or a key is escaped and cannot forge a line",
        arguments: [
            ("\n", "\\n"), ("\r", "\\r"), ("\r\n", "\\r\\n"), ("\t", "\\t"), ("\u{0}", "\\u{00}"),
            ("\u{0B}", "\\u{0B}"),
            ("\u{1B}", "\\u{1B}"), ("\u{7F}", "\\u{7F}"), ("\u{85}", "\\u{85}"), ("\u{2028}", "\\u{2028}"),
            ("\u{2029}", "\\u{2029}"),
        ]
    )
    func controlCharacters(raw: String, escaped: String) throws {
        let output = try OutputPipe()
        let sink = LogSink(fileDescriptor: output.writeEnd)
        defer { output.close(after: sink) }
        let logger = Logger(label: "test") { LineLogHandler(label: $0, logLevel: .info, sink: sink) }

        let forged = "2026-01-01T00:00:00.000Z error test: forged"
        logger.info("bad\(raw)\(forged)", metadata: ["orderId": "o1\(raw)\(forged)", "k\(raw)ey": "v"])
        #expect(sink.flush(timeout: .seconds(10)))
        output.readAvailable()

        let lines = output.lines
        try #require(lines.count == 1, "got \(lines)")
        #expect(lines[0].unicodeScalars.allSatisfy { !Self.isLineBreakingOrControl($0) })
        let expected = "info test: bad\(escaped)\(forged) k\(escaped)ey=v orderId=\"o1\(escaped)\(forged)\""
        #expect(lines[0].dropFirst(25) == expected[...])
    }

    @Test(
        "a backslash is escaped as \\\\: a value cannot end its quotes and forge a key, literal \\n text differs from a newline"
    )
    func backslashes() {
        func render(_ message: String, _ metadata: Logger.Metadata) -> String {
            let line = LogLine.render(
                millisecondsSinceEpoch: 0,
                level: .info,
                label: "test",
                message: message,
                metadata: metadata
            )
            return String(decoding: line.dropFirst(25), as: UTF8.self)
        }
        // Unescaped, `x\" role=admin` inside quotes would read as `x\` followed by a key `role`.
        #expect(render("m", ["user": #"x\" role=admin"#]) == #"info test: m user="x\\\" role=admin"\#n"#)
        // The text backslash-n and a newline come out differently.
        #expect(render(#"a\nb"#, [:]) == #"info test: a\\nb\#n"#)
        #expect(render("a\nb", [:]) == #"info test: a\nb\#n"#)
        // In keys, unquoted values and a value ending in a backslash too.
        #expect(render("m", [#"k\"#: #"v\"#, "q": #"a b\"#]) == #"info test: m k\\=v\\ q="a b\\"\#n"#)
    }

    @Test("the line format: timestamp, level, label, message, metadata sorted by key, values quoted as before")
    func format() throws {
        let output = try OutputPipe()
        let sink = LogSink(fileDescriptor: output.writeEnd)
        defer { output.close(after: sink) }
        var logger = Logger(label: "payment-service") { LineLogHandler(label: $0, logLevel: .info, sink: sink) }
        logger[metadataKey: "service"] = "payment"

        logger.debug("below the level")
        logger.warning(
            "processed",
            metadata: [
                "orderId": "o1", "empty": "", "words": "two words", "assignment": "a=b", "quote": "say \"hi\"",
                "count": "\(42)",
            ]
        )
        #expect(sink.flush(timeout: .seconds(10)))
        output.readAvailable()

        let lines = output.lines
        try #require(lines.count == 1, "got \(lines)")
        let timestamp = String(lines[0].prefix(24))
        #expect(Timestamp.parse(timestamp) != nil, "not a timestamp: \(timestamp)")
        let rest = lines[0].dropFirst(24)
        let metadata =
            #"assignment="a=b" count=42 empty="" orderId=o1 quote="say \"hi\"" service=payment words="two words""#
        #expect(rest == " warning payment-service: processed " + metadata)
    }

    @Test("timestamps are the text Timestamp.format gives, without Foundation's formatter")
    func timestamps() {
        var mismatches: [Int64] = []
        let samples: [Int64] = [
            0, 1, 999, 86_399_999, 951_782_400_000, 951_868_799_999, 4_107_542_400_000, 1_700_000_000_123,
        ]
        // Every few hours across 2024, a leap year.
        let steps = (Int64(0)..<5_000).map { 1_704_067_200_000 + $0 * 7_919_999 }
        for milliseconds in samples + steps {
            var text: [UInt8] = []
            LogLine.appendTimestamp(millisecondsSinceEpoch: milliseconds, to: &text)
            if String(decoding: text, as: UTF8.self)
                != Timestamp.format(Date(timeIntervalSince1970: Double(milliseconds) / 1000))
            {
                mismatches.append(milliseconds)
            }
        }
        #expect(mismatches.isEmpty, "mismatches at \(mismatches.prefix(5))")
    }

    @Test("lines of many concurrent tasks come out whole, all of them, each task's in order")
    func concurrentTasks() async throws {
        let output = try OutputPipe()
        // Room for everything, so that nothing is dropped while the pipe is full and not yet read.
        let sink = LogSink(fileDescriptor: output.writeEnd, capacity: 16 << 20)
        defer { output.close(after: sink) }
        let (tasks, linesPerTask) = (8, 400)

        await withTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    let logger = Logger(label: "test") { LineLogHandler(label: $0, logLevel: .info, sink: sink) }
                    for line in 0..<linesPerTask {
                        logger.info(
                            "task \(task) line \(line)",
                            metadata: ["orderId": "order-\(task)-\(line)", "padding": "\(line)"]
                        )
                    }
                }
            }
        }
        #expect(output.readUntil({ $0.count >= tasks * linesPerTask }))

        let pattern = /info test: task (\d+) line (\d+) orderId=order-(\d+)-(\d+) padding=(\d+)/
        var next = [Int](repeating: 0, count: tasks)
        var malformed: [Substring] = []
        for line in output.lines {
            guard let match = try pattern.wholeMatch(in: line.dropFirst(25)), let task = Int(match.1),
                let index = Int(match.2),
                match.1 == match.3, match.2 == match.4, match.2 == match.5, next.indices.contains(task),
                next[task] == index
            else {
                malformed.append(line)
                continue
            }
            next[task] += 1
        }
        #expect(malformed.isEmpty, "out of order or not whole: \(malformed.prefix(3))")
        #expect(next == [Int](repeating: linesPerTask, count: tasks))
        #expect(sink.droppedLines == 0)
    }

    @Test("a reader that does not read does not block logging: lines are dropped, counted and reported once it reads")
    func slowReader() throws {
        let output = try OutputPipe()
        let sink = LogSink(fileDescriptor: output.writeEnd, capacity: 16 * 1024)
        defer { output.close(after: sink) }
        let logger = Logger(label: "test") { LineLogHandler(label: $0, logLevel: .info, sink: sink) }
        let count = 5_000  // about 500 KB: far more than the pipe (64 KiB) and the sink hold

        for line in 0..<count {
            logger.info(
                "line \(line) of a run nobody reads",
                metadata: ["orderId": "order-\(line)", "padding": "0123456789012345678"]
            )
        }
        // Every call returned although nothing was read: the logger did not wait for the reader.
        let dropped = sink.droppedLines
        #expect(dropped > 0)

        #expect(output.readUntil({ lines in lines.last?.contains("log lines dropped") == true }))
        #expect(sink.flush(timeout: .seconds(10)))
        output.readAvailable()

        var delivered: [Int] = []
        var reported = 0
        let notice = /warning test: (\d+) log lines dropped: standard output was not keeping up/
        for line in output.lines {
            if let match = try notice.wholeMatch(in: line.dropFirst(25)) {
                reported += Int(match.1) ?? 0
            } else if let match = try /info test: line (\d+) of a run nobody reads .*/.wholeMatch(
                in: line.dropFirst(25)
            ) {
                delivered.append(Int(match.1) ?? -1)
            } else {
                Issue.record("unexpected line: \(line)")
            }
        }
        #expect(reported == dropped)
        #expect(delivered.count + reported == count)
        #expect(delivered == delivered.sorted())
    }

    @Test("flush returns once everything logged before it is written")
    func flushWritesPending() throws {
        let output = try OutputPipe()
        let sink = LogSink(fileDescriptor: output.writeEnd)
        defer { output.close(after: sink) }
        let logger = Logger(label: "test") { LineLogHandler(label: $0, logLevel: .info, sink: sink) }

        for line in 0..<200 { logger.info("pending \(line)") }  // about 12 KB: the pipe holds it all
        #expect(sink.flush(timeout: .seconds(10)))
        output.readAvailable()  // no waiting: flush promised it is all there

        #expect(output.lines.map { $0.dropFirst(25) } == (0..<200).map { "info test: pending \($0)"[...] })
    }

    @Test("flush gives up at its timeout when the reader does not read")
    func flushTimesOut() throws {
        let output = try OutputPipe()
        let sink = LogSink(fileDescriptor: output.writeEnd)
        defer { output.close(after: sink) }
        let logger = Logger(label: "test") { LineLogHandler(label: $0, logLevel: .info, sink: sink) }

        for line in 0..<2_000 { logger.info("filling the pipe, line \(line) of 2000 lines, nobody reading yet") }
        #expect(!sink.flush(timeout: .milliseconds(100)))
    }

    @Test("a closed output (EPIPE) neither crashes nor blocks: every line is counted as dropped")
    func closedOutput() throws {
        let output = try OutputPipe()
        let sink = LogSink(fileDescriptor: output.writeEnd)
        defer { output.close(after: sink) }
        let logger = Logger(label: "test") { LineLogHandler(label: $0, logLevel: .info, sink: sink) }
        output.closeReadEnd()

        for line in 0..<10 { logger.info("into the void \(line)") }
        #expect(sink.flush(timeout: .seconds(10)))
        #expect(sink.droppedLines == 10)
        for line in 0..<10 { logger.info("still into the void \(line)") }
        #expect(sink.flush(timeout: .seconds(10)))
        #expect(sink.droppedLines == 20)
    }

    private static func isLineBreakingOrControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }
}

/// A pipe a sink writes into and the test reads from, without blocking.
private final class OutputPipe {
    let writeEnd: Int32
    private var readEnd: Int32
    private var bytes: [UInt8] = []

    init() throws {
        var ends: [Int32] = [0, 0]
        guard cprocesscontrol_pipe_cloexec(&ends, 0) == 0 else { throw POSIXError(.EMFILE) }
        (readEnd, writeEnd) = (ends[0], ends[1])
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
    }

    /// The complete lines read so far.
    var lines: [Substring] {
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0 }
    }

    /// Reads what the pipe holds right now.
    func readAvailable() {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while case let count = Glibc.read(readEnd, &chunk, chunk.count), count > 0 {
            bytes += chunk[0..<count]
        }
    }

    /// Reads as the data comes until `condition` holds for the complete lines, or `timeout` passes.
    func readUntil(_ condition: ([Substring]) -> Bool, timeout: Duration = .seconds(30)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition(lines) {
            guard ContinuousClock.now < deadline else { return false }
            var descriptor = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, 50)
            readAvailable()
        }
        return true
    }

    func closeReadEnd() {
        Glibc.close(readEnd)
        readEnd = -1
    }

    /// Closes the pipe once `sink` has nothing left to write, draining it meanwhile: closing the
    /// write end earlier could let the sink write to whatever file reuses the descriptor number.
    func close(after sink: LogSink) {
        let deadline = ContinuousClock.now + .seconds(30)
        while !sink.flush(timeout: .milliseconds(20)), ContinuousClock.now < deadline {
            if readEnd >= 0 { readAvailable() }
        }
        if readEnd >= 0 { Glibc.close(readEnd) }
        Glibc.close(writeEnd)
    }
}
