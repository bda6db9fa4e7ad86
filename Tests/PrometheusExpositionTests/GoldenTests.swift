import Foundation
import PrometheusExposition
import Testing

/// One golden scenario: inputs `<name>.<service>.prom` (and `<name>.own.prom` for orderd's
/// own families), expected output `<name>.expected.prom`.
struct GoldenCase: Sendable, CustomTestStringConvertible {
    var name: String
    /// Merge order. A service in `dead` has no input file and is passed as `nil`.
    var services: [String] = ["order", "payment", "inventory", "notification"]
    var dead: Set<String> = []
    /// Services whose input must fail to parse with exactly this description; like the
    /// supervisor, the merge then treats them as not answering.
    var parseErrors: [String: String] = [:]
    var hasOwn = false

    var testDescription: String { name }

    static let all: [GoldenCase] = [
        GoldenCase(name: "counters-gauges", hasOwn: true),
        GoldenCase(name: "histograms", services: ["order", "payment", "inventory"]),
        GoldenCase(name: "summaries", services: ["payment", "notification"]),
        GoldenCase(name: "escaping", services: ["order", "payment"]),
        GoldenCase(name: "service-clash", services: ["order", "payment"]),
        GoldenCase(name: "shared-family"),
        GoldenCase(name: "type-conflict", hasOwn: true),
        GoldenCase(name: "dead-child", dead: ["payment", "notification"], hasOwn: true),
        GoldenCase(name: "untyped", services: ["order", "payment"]),
        GoldenCase(
            name: "malformed",
            services: ["order", "payment", "inventory"],
            parseErrors: [
                "payment": #"line 4: unterminated value of label "provider""#,
                "inventory": #"line 3: invalid value "twelve" for sample inventory_stock_level"#,
            ],
            hasOwn: true
        ),
        GoldenCase(name: "swift-prometheus", services: ["order"]),
    ]
}

@Suite("Golden files")
struct GoldenTests {
    @Test(arguments: GoldenCase.all)
    func mergedOutputMatchesExpected(_ golden: GoldenCase) throws {
        var sources: [(service: String, families: [MetricFamily]?)] = []
        for service in golden.services {
            let file = "\(golden.name).\(service)"
            if golden.dead.contains(service) {
                #expect(Golden.url(file) == nil, "a dead child must not have an input file")
                sources.append((service, nil))
                continue
            }
            let text = try Golden.text(file)
            if let expectedError = golden.parseErrors[service] {
                let error = #expect(throws: ExpositionError.self) { try ExpositionParser.parse(text) }
                #expect(error?.description == expectedError)
                sources.append((service, nil))
            } else {
                sources.append((service, try ExpositionParser.parse(text)))
            }
        }
        let own = golden.hasOwn ? try ExpositionParser.parse(try Golden.text("\(golden.name).own")) : []

        let merged = ExpositionMerger.merge(sources, own: own)
        let expected = try Golden.text("\(golden.name).expected")
        #expect(merged == expected, "\(firstDifference(expected: expected, actual: merged))")
        try expectWellFormedExposition(merged)
    }

    @Test(arguments: GoldenCase.all)
    func everyInputRoundTrips(_ golden: GoldenCase) throws {
        for service in golden.services where !golden.dead.contains(service) && golden.parseErrors[service] == nil {
            let families = try ExpositionParser.parse(try Golden.text("\(golden.name).\(service)"))
            #expect(try ExpositionParser.parse(ExpositionWriter.write(families)) == families)
        }
    }

    @Test func everyGoldenFileBelongsToACase() throws {
        let cases = Dictionary(uniqueKeysWithValues: GoldenCase.all.map { ($0.name, $0) })
        var seenExpected: Set<String> = []
        for file in try Golden.allFileNames() where !file.hasPrefix(".") {
            let parts = file.split(separator: ".").map(String.init)
            #expect(parts.count == 3 && parts[2] == "prom", "unexpected golden file \(file)")
            guard parts.count == 3, let golden = cases[parts[0]] else {
                Issue.record("golden file \(file) belongs to no case")
                continue
            }
            let role = parts[1]
            if role == "expected" {
                seenExpected.insert(golden.name)
            } else if role == "own" {
                #expect(golden.hasOwn, "\(file) is not used by its case")
            } else {
                #expect(
                    golden.services.contains(role) && !golden.dead.contains(role),
                    "\(file) is not used by its case"
                )
            }
        }
        #expect(seenExpected == Set(cases.keys))
    }
}
