import Foundation
import Fuzzing
import PrometheusExposition
import Testing

/// The parser against mutated expositions (the golden files are the corpus): it returns
/// families or an ``ExpositionError`` naming a line of the input, never traps; what it returns
/// is what Prometheus itself would accept, survives writing and re-parsing unchanged, and merges
/// into an exposition that parses again. `FUZZ_ITERATIONS` and `FUZZ_SEED` run it longer (README, Testing).
@Suite("ExpositionParser: fuzzing")
struct ExpositionFuzzTests {
    static let fuzzer: Fuzzer = {
        let corpus = (try? Golden.allFileNames().filter { $0.hasSuffix(".prom") }.sorted()) ?? []
        let texts = corpus.compactMap { try? Golden.text(String($0.dropLast(".prom".count))) }
        return Fuzzer(
            "Prometheus exposition",
            corpus: texts.map { Array($0.utf8) },
            tokens: [
                "# HELP ", "# TYPE ", " counter", " gauge", " histogram", " summary", " untyped", "_bucket", "_sum",
                "_count", "_created", "{le=\"+Inf\"}", "{quantile=\"0.5\"}", "le", "quantile", "__name__", "service",
                "=\"", "\\\"", "\\\\", "\\n", "\"}", ",}", " 1", " 1700000000000", " NaN", " +Inf", " -Inf",
            ],
            structure: .lines([
                "# HELP m some help", "# TYPE m histogram", "# TYPE m summary", "# TYPE m counter",
                "m_bucket{le=\"1\"} 1",
                "m_bucket{le=\"+Inf\"} 2", "m_sum 3", "m_count 2", "m{quantile=\"0.99\"} 1", "m 1", "m_created 1",
                "m{service=\"x\",exported_service=\"\"} 1", "", "#", "# comment",
            ])
        )
    }()

    @Test func parsesOrRejectsAndRoundTrips() {
        #expect(Self.fuzzer.corpus.count >= 40, "the golden files are the corpus")
        let report = Self.fuzzer.run(.fromEnvironment(defaultIterations: 2000), property: Self.check)
        #expect(report.findingCount == 0, "\(report)")
        #expect(report.accepted > report.settings.iterations / 10, "most inputs should not all be rejected: \(report)")
    }

    /// What the fuzzer found: values `Double(_:)` reads but Prometheus rejects. orderd re-emitted
    /// them, and Prometheus then refused orderd's whole aggregated scrape.
    @Test(arguments: [
        "0x10", "0x1p3", "1e309", "-1e309", String(repeating: "9", count: 400), "1\u{0}junk", "nan(12)", "+NaN",
    ])
    func rejectsValuesPrometheusRejects(value: String) {
        #expect(throws: ExpositionError.self) { try ExpositionParser.parse("m \(value)\n") }
    }

    @Test(arguments: ["1", "-0", "+1", ".5", "5.", "1e-400", "1E+5", "NaN", "nan", "Inf", "+Inf", "-inf", "Infinity"])
    func acceptsValuesPrometheusAccepts(value: String) throws {
        #expect(try ExpositionParser.parse("m \(value)\n").first?.samples.first?.value == value)
    }

    static func check(_ bytes: [UInt8]) -> FuzzVerdict {
        let text = String(decoding: bytes, as: UTF8.self)
        let families: [MetricFamily]
        do {
            families = try ExpositionParser.parse(text)
        } catch {
            let lines = text.utf8.count { $0 == UInt8(ascii: "\n") } + 1
            guard (1...lines).contains(error.line), !error.reason.isEmpty else {
                return .violated("error \"\(error)\" names no line of the \(lines)-line input")
            }
            return .rejected
        }
        if let problem = firstProblem(in: families) { return .violated(problem) }
        let written = ExpositionWriter.write(families)
        do {
            let reparsed = try ExpositionParser.parse(written)
            guard reparsed == families else { return .violated("re-parsing the written families differs:\n\(written)") }
        } catch {
            return .violated("the written families do not parse: \(error)\n\(written)")
        }
        let merged = ExpositionMerger.merge([("order", families), ("payment", families)], own: [])
        do {
            let mergedFamilies = try ExpositionParser.parse(merged)
            let typeLines = merged.split(separator: "\n").count { $0.hasPrefix("# TYPE ") }
            guard typeLines == mergedFamilies.count, Set(mergedFamilies.map(\.name)).count == mergedFamilies.count
            else { return .violated("the merged exposition repeats a family:\n\(merged)") }
        } catch {
            return .violated("the merged exposition does not parse: \(error)\n\(merged)")
        }
        return .accepted
    }

    /// What the parser documents of its families, and what Prometheus requires of every value.
    static func firstProblem(in families: [MetricFamily]) -> String? {
        guard Set(families.map(\.name)).count == families.count else { return "a family name repeats" }
        for family in families {
            for sample in family.samples {
                let names = sample.labels.map(\.name)
                guard Set(names).count == names.count, !names.contains("__name__") else {
                    return "sample \(sample.name) has a repeated or reserved label"
                }
                guard PrometheusGrammar.isFloat(sample.value) else {
                    return "value \(sample.value.debugDescription) of \(sample.name) is not a float to Prometheus"
                }
                if let timestamp = sample.timestamp, !PrometheusGrammar.isTimestamp(timestamp) {
                    return "timestamp \(timestamp.debugDescription) of \(sample.name) is not an integer"
                }
            }
        }
        return nil
    }
}

/// How Prometheus' own text parser reads numbers (`strconv.ParseFloat` without `p`, `P` or `_`,
/// `strconv.ParseInt`): the reference the parsed values are held to.
enum PrometheusGrammar {
    static func isFloat(_ text: String) -> Bool {
        // Most values are plain: skip the (slow) regular expression for them.
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) { return true }
        var rest = Substring(text)
        let signed = rest.first == "+" || rest.first == "-"
        if signed { rest = rest.dropFirst() }
        let lowered = rest.lowercased()
        if lowered == "inf" || lowered == "infinity" || (!signed && lowered == "nan") { return true }
        guard rest.wholeMatch(of: /([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?/) != nil else { return false }
        return Double(text).map(\.isFinite) ?? false
    }

    static func isTimestamp(_ text: String) -> Bool {
        text.wholeMatch(of: /[+-]?[0-9]+/) != nil && Int64(text) != nil
    }
}
