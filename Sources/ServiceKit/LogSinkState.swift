import Logging

/// What a ``LogSink`` keeps under its mutex: the waiting bytes, the writer's phase and the drop
/// accounting. Pure bookkeeping, no I/O, so every decision about room, drops, notices and wake-ups
/// is made in one place and in one critical section per call.
///
/// `accepted` and `settled` only grow, so a flush waits for "everything accepted before me" by
/// comparing two numbers.
struct LogSinkState {
    /// What the writer thread is doing, as far as a caller needs to know whether to wake it.
    enum Phase { case busy, lingering, idle }
    enum AppendOutcome { case buffered, bufferedWakingWriter, dropped }
    enum WriterStep { case write, linger, sleep, stop }

    private(set) var phase = Phase.busy
    var stopping = false
    var flushWaiters = 0
    /// Bytes ever appended, drop notices included.
    private(set) var accepted: UInt64 = 0
    /// Bytes ever written or lost to a write error.
    private(set) var settled: UInt64 = 0
    private(set) var droppedTotal = 0

    private var buffer: [UInt8] = []
    /// Bytes of the batch being written that the kernel has not taken yet.
    private var unwritten = 0
    private var droppedSinceNotice = 0
    /// The label the drop notice is logged under: a dropping logger's, else the first logger's.
    private var noticeLabel = ""
    private var lastWriteFailed = false
    private var outputGone = false

    /// Room for a drop notice: a timestamp, the level, the label and a count fit in this plus the label.
    private static let noticeAllowance = 128

    mutating func append(_ line: [UInt8], label: String, capacity: Int) -> AppendOutcome {
        if noticeLabel.isEmpty { noticeLabel = label }
        let notice = droppedSinceNotice > 0 ? Self.noticeAllowance + label.utf8.count : 0
        guard !outputGone, hasRoom(for: line.count + notice, capacity: capacity) else {
            droppedTotal += 1
            if !outputGone {
                droppedSinceNotice += 1
                noticeLabel = label
            }
            return .dropped
        }
        // The notice goes where the lines are missing: before the first line accepted after them.
        if droppedSinceNotice > 0 { acceptNotice() }
        accept(line)
        switch phase {
        case .idle:
            phase = .busy
            return .bufferedWakingWriter
        case .lingering where buffer.count >= capacity / 2:
            // A burst could fill the buffer before the linger ends; have it written now.
            phase = .busy
            return .bufferedWakingWriter
        case .busy, .lingering:
            return .buffered
        }
    }

    /// The writer's next move. For `.write`, the batch (whole lines) has been moved into `batch`,
    /// which must come in empty; its spare capacity is kept for the next appends.
    mutating func nextStep(taking batch: inout [UInt8], capacity: Int) -> WriterStep {
        // The writer caught up after dropping lines and nobody has logged since: say so now.
        // Not after a failed write, which would make the notice fail in turn, and again, forever.
        if droppedSinceNotice > 0, !lastWriteFailed, !outputGone,
            hasRoom(for: Self.noticeAllowance + noticeLabel.utf8.count, capacity: capacity)
        {
            acceptNotice()
        }
        if !buffer.isEmpty {
            swap(&buffer, &batch)
            unwritten = batch.count
            phase = .busy
            return .write
        }
        if stopping { return .stop }
        switch phase {
        case .busy:
            phase = .lingering
            return .linger
        case .lingering, .idle:
            phase = .idle
            return .sleep
        }
    }

    mutating func wrote(_ count: Int) {
        unwritten -= count
        settled += UInt64(count)
        lastWriteFailed = false
    }

    /// Accounts for the rest of a batch that could not be written; when the output is gone, for
    /// everything buffered as well. Returns how many lines that dropped.
    mutating func lost(bytes: Int, lines: Int, outputGone gone: Bool) -> Int {
        unwritten -= bytes
        settled += UInt64(bytes)
        lastWriteFailed = true
        var dropped = lines
        if gone {
            outputGone = true
            dropped += buffer.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            settled += UInt64(buffer.count)
            buffer = []
            droppedSinceNotice = 0
        } else {
            droppedSinceNotice += dropped
        }
        droppedTotal += dropped
        return dropped
    }

    private func hasRoom(for count: Int, capacity: Int) -> Bool {
        let waiting = buffer.count + unwritten
        return waiting == 0 || waiting + count <= capacity
    }

    private mutating func accept(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
        accepted += UInt64(bytes.count)
    }

    private mutating func acceptNotice() {
        let message = "\(droppedSinceNotice) log lines dropped: standard output was not keeping up"
        accept(
            LogLine.render(
                millisecondsSinceEpoch: LogLine.now(),
                level: .warning,
                label: noticeLabel,
                message: message,
                metadata: [:]
            )
        )
        droppedSinceNotice = 0
    }
}
