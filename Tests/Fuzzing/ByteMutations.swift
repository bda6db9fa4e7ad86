/// Format-blind mutations of an input's bytes: what a coverage-free fuzzer does to any input,
/// biased towards the bytes and numbers that break parsers (NUL, quotes, brackets, invalid
/// UTF-8, overlong numbers, deep nesting, truncation).
enum ByteMutations {
    /// Bytes that mean something to some parser (or to UTF-8).
    static let interestingBytes: [UInt8] = [
        0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x22, 0x23, 0x27, 0x2C, 0x2E, 0x3A, 0x3D, 0x5B, 0x5C, 0x5D,
        0x7B, 0x7D, 0x7F, 0x80, 0xBF, 0xC0, 0xC2, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF,
    ]

    /// Byte sequences that are not UTF-8, or are the UTF-8 that decoders get wrong.
    static let encodingTraps: [[UInt8]] = [
        [0xC0, 0x80],  // overlong NUL
        [0xED, 0xA0, 0x80],  // a surrogate
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xE2, 0x82],  // truncated
        [0x80],  // a lone continuation byte
        [0xFF, 0xFE],  // a UTF-16 byte order mark
        [0xEF, 0xBB, 0xBF],  // the UTF-8 byte order mark
        [0x00],
        [0xE2, 0x80, 0xA8],  // U+2028 LINE SEPARATOR
        [0xC2, 0x85],  // U+0085 NEXT LINE
        [0x65, 0xCC, 0x81],  // e + combining acute (canonically equal to U+00E9)
        [0xC3, 0xA9],  // U+00E9
        [0xF0, 0x9F, 0x92, 0xA5],  // an emoji (four bytes)
    ]

    /// Number texts at the edges of what parsers represent.
    static let interestingNumbers: [String] = [
        "0", "-0", "1", "-1", "00", "01", "1.", ".5", "+1", "0.1", "1.005", "0.001", "2.50", "1e2", "1E-2", "1e308",
        "1e309", "-1e309", "1e-400", "4.9e-324", "127", "128", "255", "256", "65535", "65536", "2147483647",
        "2147483648", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "18446744073709551615", "18446744073709551616", "99999999999999999999999999999999999999999",
        "10000000000000", "9999999999999.99", "1000000", "1000001", "NaN", "nan", "Inf", "+Inf", "-Inf",
        "Infinity", "inf", "0x10", "0x1p3", "1_000", String(repeating: "9", count: 400),
        "0." + String(repeating: "0", count: 400) + "1",
    ]

    static func mutate(_ input: inout [UInt8], tokens: [[UInt8]], other: [UInt8], random: inout FuzzRandom) {
        switch random.below(14) {
        case 0 where !input.isEmpty:
            let index = random.below(input.count)
            input[index] ^= 1 << UInt8(random.below(8))
        case 1 where !input.isEmpty:
            input[random.below(input.count)] =
                random.oneIn(2) ? random.pick(interestingBytes) : UInt8.random(in: 0...255, using: &random)
        case 2:
            let bytes = (0..<(1 + random.below(4))).map { _ in random.pick(interestingBytes) }
            input.insert(contentsOf: bytes, at: random.below(input.count + 1))
        case 3 where !input.isEmpty:
            let range = randomRange(in: input, random: &random)
            input.removeSubrange(range)
        case 4 where !input.isEmpty:
            let chunk = input[randomRange(in: input, random: &random)]
            input.insert(contentsOf: chunk, at: random.below(input.count + 1))
        case 5 where !input.isEmpty:
            input.removeLast(1 + random.below(input.count))
        case 6 where !tokens.isEmpty:
            input.insert(contentsOf: random.pick(tokens), at: random.below(input.count + 1))
        case 7:
            replaceNumber(in: &input, random: &random)
        case 8:
            input.insert(contentsOf: random.pick(encodingTraps), at: random.below(input.count + 1))
        case 9 where !input.isEmpty:
            // Deep nesting and long runs: a short chunk (often an opening bracket) many times.
            let start = random.below(input.count)
            let chunk = Array(input[start..<min(input.count, start + 1 + random.below(6))])
            let times = random.oneIn(3) ? 1 + random.below(3000) : 2 + random.below(16)
            input.insert(contentsOf: Array(repeating: chunk, count: times).joined(), at: start)
        case 10 where !other.isEmpty:
            // Splice: this input's head, another's tail.
            let head = input.prefix(random.below(input.count + 1))
            input = Array(head) + other.suffix(random.below(other.count + 1))
        case 11 where !input.isEmpty:
            let range = randomRange(in: input, random: &random)
            input.replaceSubrange(range, with: random.oneIn(2) ? random.pick(tokens.isEmpty ? [[]] : tokens) : [])
        case 12:
            let bracket = random.pick([(UInt8(ascii: "["), UInt8(ascii: "]")), (UInt8(ascii: "{"), UInt8(ascii: "}"))])
            let depth = 1 + random.below(random.oneIn(4) ? 5000 : 40)
            let at = random.below(input.count + 1)
            input.insert(contentsOf: Array(repeating: bracket.0, count: depth), at: at)
            if random.oneIn(2) { input.append(contentsOf: Array(repeating: bracket.1, count: depth)) }
        default:
            if input.count > 1 {
                let (a, b) = (random.below(input.count), random.below(input.count))
                input.swapAt(a, b)
            }
        }
    }

    /// A range of at most 16 bytes (sometimes more) inside a non-empty input.
    static func randomRange(in input: [UInt8], random: inout FuzzRandom) -> Range<Int> {
        let start = random.below(input.count)
        let limit = random.oneIn(8) ? input.count - start : min(16, input.count - start)
        return start..<(start + 1 + random.below(limit))
    }

    /// Replaces a run of digits (or inserts at random, when there is none) with an interesting number.
    private static func replaceNumber(in input: inout [UInt8], random: inout FuzzRandom) {
        let number = Array(random.pick(interestingNumbers).utf8)
        let digits = input.indices.filter { input[$0] >= UInt8(ascii: "0") && input[$0] <= UInt8(ascii: "9") }
        guard !digits.isEmpty else {
            input.insert(contentsOf: number, at: random.below(input.count + 1))
            return
        }
        var start = random.pick(digits)
        var end = start + 1
        while start > 0, isNumberByte(input[start - 1]) { start -= 1 }
        while end < input.count, isNumberByte(input[end]) { end += 1 }
        input.replaceSubrange(start..<end, with: number)
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".")
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "e")
            || byte == UInt8(ascii: "E")
    }
}
