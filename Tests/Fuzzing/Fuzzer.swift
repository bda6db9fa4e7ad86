import Foundation

/// What a property says of one input.
public enum FuzzVerdict: Sendable, Hashable {
    /// The parser returned a value and every property of it held.
    case accepted
    /// The parser threw its typed error, and the error was as documented.
    case rejected
    /// A property did not hold: a finding, with what was wrong.
    case violated(String)
}

/// A coverage-free, structure-aware mutation fuzzer for one parser.
///
/// Input `n` of a campaign is the corpus entry `n` while there are entries left, then a corpus
/// entry with a few stacked mutations drawn from a generator seeded by the campaign's seed and
/// `n` alone: the same seed regenerates the same inputs, in any order. The property runs on the
/// caller's thread; an input that makes it trap is written to standard error first (see
/// ``TrapReporter``), so that the crash can be replayed and turned into a regression test.
public struct Fuzzer: Sendable {
    /// How inputs are mutated beyond their bytes.
    public enum Structure: Sendable {
        /// Bytes only.
        case bytes
        /// Line-based text (Prometheus, TOML): whole lines moved, repeated, dropped, or taken
        /// from `lines`.
        case lines([String])
        /// JSON: members and values of the document edited with these words.
        case json(JSONVocabulary)
    }

    /// Inputs grow no longer than this (mutations repeat chunks).
    public static let maximumLength = 256 * 1024

    public var name: String
    public var corpus: [[UInt8]]
    public var tokens: [[UInt8]]
    public var structure: Structure
    /// The corpus entries that are JSON, read once: what JSON mutations take parts from.
    private let donors: [JSONValue]

    /// - Parameters:
    ///   - name: names the campaign in its summary line and its findings.
    ///   - corpus: valid inputs to start from (at least one).
    ///   - tokens: words of the format, inserted anywhere by the byte mutations.
    public init(_ name: String, corpus: [[UInt8]], tokens: [String] = [], structure: Structure = .bytes) {
        precondition(!corpus.isEmpty, "a fuzz campaign needs at least one corpus entry")
        self.name = name
        self.corpus = corpus
        self.tokens = tokens.map { Array($0.utf8) }
        self.structure = structure
        if case .json = structure { donors = corpus.compactMap { JSONReader.parse($0) } } else { donors = [] }
    }

    /// Input `iteration` of the campaign with `seed`.
    public func input(_ iteration: Int, seed: UInt64) -> [UInt8] {
        if iteration < corpus.count { return corpus[iteration] }
        var random = FuzzRandom(seed: seed, iteration: iteration)
        var input = random.pick(corpus)
        let other = random.pick(corpus)
        if case .json(let vocabulary) = structure, !random.oneIn(4), var document = JSONReader.parse(input) {
            let mutations = JSONMutations(vocabulary: vocabulary, donors: donors)
            for _ in 0..<(1 + random.below(3)) { mutations.mutate(&document, random: &random) }
            input = document.rendered
            guard !random.oneIn(2) else { return Array(input.prefix(Self.maximumLength)) }
        }
        let steps = 1 + random.below(random.oneIn(4) ? 8 : 3)
        for _ in 0..<steps {
            if case .lines(let lines) = structure, random.oneIn(2) {
                LineMutations.mutate(&input, lines: lines.map { Array($0.utf8) }, other: other, random: &random)
            } else {
                ByteMutations.mutate(&input, tokens: tokens, other: other, random: &random)
            }
            if input.count > Self.maximumLength { input.removeLast(input.count - Self.maximumLength) }
        }
        return input
    }

    /// Runs `property` on `settings.iterations` inputs and reports what it found.
    /// `property` must not throw or record issues itself: it says what went wrong in its verdict.
    public func run(
        _ settings: FuzzSettings,
        property: ([UInt8]) -> FuzzVerdict
    ) -> FuzzReport {
        var report = FuzzReport(name: name, settings: settings)
        let started = ContinuousClock.now
        TrapReporter.watching(campaign: name, seed: settings.seed) { watch in
            for iteration in 0..<settings.iterations {
                let input = self.input(iteration, seed: settings.seed)
                watch.trying(input, iteration: iteration)
                report.record(property(input), input: input, iteration: iteration)
            }
        }
        report.elapsed = ContinuousClock.now - started
        print(report.summary)
        return report
    }
}

/// What a campaign tried and found.
public struct FuzzReport: Sendable, CustomStringConvertible {
    /// One input whose property did not hold.
    public struct Finding: Sendable, CustomStringConvertible {
        public var iteration: Int
        public var input: [UInt8]
        public var problem: String

        public var description: String {
            "input \(iteration): \(problem)\n  text:  \(FuzzReport.printable(input))\n  bytes: \(FuzzReport.literal(input))"
        }
    }

    /// Findings beyond this many are counted, not kept.
    public static let keptFindings = 5

    public let name: String
    public let settings: FuzzSettings
    public private(set) var accepted = 0
    public private(set) var rejected = 0
    public private(set) var findingCount = 0
    public private(set) var findings: [Finding] = []
    public internal(set) var elapsed: Duration = .zero

    init(name: String, settings: FuzzSettings) {
        self.name = name
        self.settings = settings
    }

    mutating func record(_ verdict: FuzzVerdict, input: [UInt8], iteration: Int) {
        switch verdict {
        case .accepted: accepted += 1
        case .rejected: rejected += 1
        case .violated(let problem):
            findingCount += 1
            if findings.count < Self.keptFindings {
                findings.append(Finding(iteration: iteration, input: input, problem: problem))
            }
        }
    }

    /// One line: inputs tried, accepted and rejected, time, seed, findings.
    public var summary: String {
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return "fuzz \(name): \(settings.iterations) inputs (\(accepted) accepted, \(rejected) rejected) in "
            + String(format: "%.1f", seconds) + " s, seed \(settings.seed), \(findingCount) findings"
    }

    /// The summary, every kept finding, and how to replay the run.
    public var description: String {
        ([summary] + findings.map(\.description) + [
            "replay: FUZZ_SEED=\(settings.seed) FUZZ_ITERATIONS=\(settings.iterations) swift test --filter <this test>"
        ]).joined(separator: "\n")
    }

    /// The bytes as text, with what is not printable ASCII escaped as `\xHH` (`\n` as `\n`).
    static func printable(_ bytes: [UInt8], limit: Int = 400) -> String {
        var text = ""
        for byte in bytes.prefix(limit) {
            switch byte {
            case 0x0A: text += "\\n"
            case 0x5C: text += "\\\\"
            case 0x20..<0x7F: text.append(Character(Unicode.Scalar(byte)))
            default: text += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return bytes.count > limit ? text + "… (\(bytes.count) bytes)" : text
    }

    /// The bytes as a Swift `[UInt8]` literal, to paste into a regression test.
    static func literal(_ bytes: [UInt8], limit: Int = 200) -> String {
        let shown = bytes.prefix(limit).map { "0x" + String($0, radix: 16, uppercase: true).leftPadded(to: 2) }
        return "[" + shown.joined(separator: ", ") + (bytes.count > limit ? ", …] (\(bytes.count) bytes)" : "]")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
