#if os(Linux)
import Glibc
#endif

/// Writes, when a campaign's thread traps (a failed precondition, a stack overflow, a bad
/// access), the input it was trying to standard error before the process dies:
///
///     fuzz trap: <campaign>, seed <seed>, input <n> (<length> bytes)
///     text:  <the input, non-printable bytes as \xHH>
///     bytes: [0x7B, 0x22, …]
///
/// A trap ends the whole test process, so this is the only way its input is ever seen. The
/// handler then passes the signal on to the one installed before it (the Swift runtime's
/// backtracer, or the default action). Linux only; elsewhere a trap is reported by the runtime
/// alone.
///
/// Each campaign thread has its own slot, found through a thread-specific key, written only by
/// that thread and read only by the handler running on that same thread: no slot is shared.
public enum TrapReporter {
    /// The slot of one campaign while it runs.
    public struct Watch {
        fileprivate let slot: UnsafeMutablePointer<Slot>

        /// Records the input about to be tried (copied, so it survives the property).
        public func trying(_ input: [UInt8], iteration: Int) {
            #if os(Linux)
            if input.count > slot.pointee.capacity {
                let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: input.count)
                // Hidden from the handler while the buffer changes.
                slot.pointee.length = 0
                slot.pointee.input.deallocate()
                slot.pointee.input = grown
                slot.pointee.capacity = input.count
            }
            input.withUnsafeBufferPointer { bytes in
                if let base = bytes.baseAddress { slot.pointee.input.update(from: base, count: bytes.count) }
            }
            slot.pointee.iteration = iteration
            slot.pointee.length = input.count
            #endif
        }
    }

    /// Runs `body` with a slot for this thread; a trap inside it reports the latest input.
    static func watching(campaign: String, seed: UInt64, _ body: (Watch) -> Void) {
        let header = Array("fuzz trap: \(campaign), seed \(seed), input ".utf8)
        let slot = UnsafeMutablePointer<Slot>.allocate(capacity: 1)
        slot.initialize(to: Slot(header: header))
        defer {
            slot.pointee.release()
            slot.deinitialize(count: 1)
            slot.deallocate()
        }
        #if os(Linux)
        _ = installation
        // A stack overflow can only be reported from a stack of its own.
        let alternateStackSize = 1 << 16
        let alternateStack = UnsafeMutableRawPointer.allocate(byteCount: alternateStackSize, alignment: 16)
        var stack = stack_t(ss_sp: alternateStack, ss_flags: 0, ss_size: alternateStackSize)
        var previousStack = stack_t()
        sigaltstack(&stack, &previousStack)
        pthread_setspecific(slotKey, slot)
        defer {
            pthread_setspecific(slotKey, nil)
            sigaltstack(&previousStack, nil)
            alternateStack.deallocate()
        }
        #endif
        body(Watch(slot: slot))
    }
}

/// One campaign's latest input, in memory the signal handler can read without allocating.
struct Slot {
    let header: UnsafeMutableBufferPointer<UInt8>
    var iteration = 0
    var input: UnsafeMutablePointer<UInt8>
    var capacity: Int
    var length = 0
    /// Where the handler formats its output.
    let scratch: UnsafeMutablePointer<UInt8>
    static let scratchSize = 4096

    init(header: [UInt8]) {
        self.header = UnsafeMutableBufferPointer.allocate(capacity: header.count)
        _ = self.header.initialize(from: header)
        capacity = 4096
        input = .allocate(capacity: capacity)
        scratch = .allocate(capacity: Self.scratchSize)
    }

    func release() {
        header.deallocate()
        input.deallocate()
        scratch.deallocate()
    }
}

#if os(Linux)
/// The trapping signals: a Swift trap is SIGILL (x86-64) or SIGTRAP (arm64).
private let trapSignals = [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGABRT]

private let slotKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// The actions installed before ours, by signal number: written once by `installation`
/// before the handler can run, then only read.
nonisolated(unsafe) private let previousActions = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)

private let installation: Void = {
    _ = slotKey
    for signal in trapSignals {
        var action = sigaction()
        action.__sigaction_handler.sa_sigaction = reportTrap
        action.sa_flags = SA_SIGINFO | SA_ONSTACK
        sigemptyset(&action.sa_mask)
        sigaction(signal, &action, previousActions + Int(signal))
    }
}()

/// Async-signal-safe: reads this thread's slot and calls only `write`, `sigaction` and `raise`.
private func reportTrap(_ signal: Int32, _ info: UnsafeMutablePointer<siginfo_t>?, _ context: UnsafeMutableRawPointer?)
{
    if let raw = pthread_getspecific(slotKey) {
        let slot = raw.assumingMemoryBound(to: Slot.self).pointee
        var out = Output(buffer: slot.scratch, capacity: Slot.scratchSize)
        out.append("\n")
        for byte in slot.header { out.append(byte) }
        out.appendDecimal(slot.iteration)
        out.append(" (")
        out.appendDecimal(slot.length)
        out.append(" bytes)\ntext:  ")
        let shown = min(slot.length, 1 << 16)
        for index in 0..<shown {
            let byte = slot.input[index]
            switch byte {
            case 0x0A: out.append("\\n")
            case 0x5C: out.append("\\\\")
            case 0x20..<0x7F: out.append(byte)
            default:
                out.append("\\x")
                out.appendHex(byte: byte)
            }
        }
        out.append("\nbytes: [")
        for index in 0..<shown {
            if index > 0 { out.append(", ") }
            out.append("0x")
            out.appendHex(byte: slot.input[index])
        }
        out.append("]\n")
        out.flush()
    }
    sigaction(signal, previousActions + Int(signal), nil)
    raise(signal)
}

/// Buffered writes to standard error from a signal handler.
private struct Output {
    let buffer: UnsafeMutablePointer<UInt8>
    let capacity: Int
    var count = 0

    mutating func append(_ byte: UInt8) {
        if count == capacity { flush() }
        buffer[count] = byte
        count += 1
    }

    mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { for byte in $0 { append(byte) } }
    }

    mutating func appendDecimal(_ value: Int) {
        var divisor = 1
        while divisor <= value / 10 { divisor *= 10 }
        var rest = max(value, 0)
        while divisor > 0 {
            append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    mutating func appendHex(byte: UInt8) {
        let digits: StaticString = "0123456789ABCDEF"
        digits.withUTF8Buffer { hex in
            append(hex[Int(byte >> 4)])
            append(hex[Int(byte & 0xF)])
        }
    }

    mutating func flush() {
        var written = 0
        while written < count {
            let result = write(2, buffer + written, count - written)
            guard result > 0 else { break }
            written += result
        }
        count = 0
    }
}
#endif
