import Foundation
import PrometheusExposition
import Testing

/// Access to the files of the `Golden` resource folder.
enum Golden {
    /// The URL of `Golden/<name>.prom`, or `nil` if there is no such file.
    static func url(_ name: String) -> URL? {
        Bundle.module.url(forResource: name, withExtension: "prom", subdirectory: "Golden")
    }

    /// The contents of `Golden/<name>.prom`; fails the test if the file is missing.
    static func text(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let fileURL = try #require(Golden.url(name), "missing golden file \(name).prom", sourceLocation: sourceLocation)
        return try String(contentsOf: fileURL, encoding: .utf8)
    }

    /// The names of all files in the folder.
    static func allFileNames() throws -> [String] {
        let directory = try #require(Bundle.module.url(forResource: "Golden", withExtension: nil))
        return try FileManager.default.contentsOfDirectory(atPath: directory.path)
    }
}

/// Describes the first difference between two texts line by line, for readable failures.
func firstDifference(expected: String, actual: String) -> String {
    let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
    let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
    for index in 0..<max(expectedLines.count, actualLines.count) {
        let want = index < expectedLines.count ? String(expectedLines[index]) : "<end of text>"
        let got = index < actualLines.count ? String(actualLines[index]) : "<end of text>"
        if want != got {
            return "line \(index + 1):\n  expected: \(want)\n  actual:   \(got)\n--- full actual output ---\n\(actual)"
        }
    }
    return "texts are equal"
}

/// Checks what every merged exposition must satisfy: it parses, every family name has one
/// TYPE line and at most one HELP line, and all samples of a family are contiguous. The last
/// two are shown by re-writing the parsed families (the writer emits each family as one
/// block) and comparing with the text minus its comment lines.
func expectWellFormedExposition(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let families = try ExpositionParser.parse(text)
    let withoutComments = text.split(separator: "\n", omittingEmptySubsequences: false)
        .filter { !$0.hasPrefix("# ") || $0.hasPrefix("# HELP ") || $0.hasPrefix("# TYPE ") }
        .joined(separator: "\n")
    let rewritten = ExpositionWriter.write(families)
    #expect(
        rewritten == withoutComments,
        "\(firstDifference(expected: withoutComments, actual: rewritten))",
        sourceLocation: sourceLocation
    )
    let typeLines = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }
    #expect(typeLines.count == families.count, sourceLocation: sourceLocation)
    #expect(Set(families.map(\.name)).count == families.count, sourceLocation: sourceLocation)
}
