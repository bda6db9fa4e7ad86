/// Mutations of line-based formats (the Prometheus text format, TOML): whole lines deleted,
/// repeated, swapped, borrowed from another input or replaced by a line of the format's own.
enum LineMutations {
    static func mutate(_ input: inout [UInt8], lines: [[UInt8]], other: [UInt8], random: inout FuzzRandom) {
        var rows = input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
        let row = random.below(rows.count)
        switch random.below(6) {
        case 0 where rows.count > 1:
            rows.remove(at: row)
        case 1:
            let copies = random.oneIn(4) ? 2 + random.below(200) : 1
            rows.insert(contentsOf: Array(repeating: rows[row], count: copies), at: random.below(rows.count + 1))
        case 2:
            rows.swapAt(row, random.below(rows.count))
        case 3 where !other.isEmpty:
            let borrowed = other.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            rows.insert(Array(random.pick(borrowed)), at: random.below(rows.count + 1))
        case 4 where !lines.isEmpty:
            rows.insert(random.pick(lines), at: random.below(rows.count + 1))
        default:
            if !lines.isEmpty { rows[row] = random.pick(lines) }
        }
        let separator: [UInt8] = random.oneIn(16) ? [0x0D, 0x0A] : [0x0A]
        input = Array(rows.joined(separator: separator))
    }
}
