/// Start order: topological by `after`, ties broken by the order the services appear in the
/// file (TOMLKit's tables are sorted by key, so the appearance order is read from the text).
enum ServiceOrder {
    /// The names of the tables directly under `root` (for `root = "services"`: the `<name>` of
    /// `[services.<name>]`, `[services.<name>.probes]`, `services.<name>.x = …` or, inside
    /// `[services]`, `<name> = {…}`), in order of first appearance.
    static func appearance(ofTablesUnder root: String, in text: String) -> [String] {
        var names: [String] = []
        var currentTable: [String] = []
        var openMultiline: String?
        func record(_ path: [String]) {
            if path.count >= 2, path[0] == root, !names.contains(path[1]) { names.append(path[1]) }
        }
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            var line = Substring(rawLine)
            if let delimiter = openMultiline {
                guard let end = line.range(of: delimiter) else { continue }
                line = line[end.upperBound...]
                openMultiline = nil
                continue
            }
            line = line.drop(while: { $0 == " " || $0 == "\t" })
            if line.isEmpty || line.first == "#" { continue }
            if line.first == "[" {
                var header = line.dropFirst()
                if header.first == "[" { header = header.dropFirst() }
                if let (path, rest) = dottedKey(header), rest.first == "]" {
                    currentTable = path
                    record(path)
                }
                continue
            }
            guard let (key, rest) = dottedKey(line), rest.first == "=" else { continue }
            record(currentTable + key)
            let value = rest.dropFirst()
            for delimiter in ["\"\"\"", "'''"] {
                if let start = value.range(of: delimiter) {
                    if value[start.upperBound...].range(of: delimiter) == nil { openMultiline = delimiter }
                    break
                }
            }
        }
        return names
    }

    /// Parses a TOML dotted key at the start of `text`; returns its components and the text
    /// after it (leading blanks removed).
    static func dottedKey(_ text: Substring) -> ([String], Substring)? {
        var rest = text
        var components: [String] = []
        func skipBlanks() { rest = rest.drop(while: { $0 == " " || $0 == "\t" }) }
        while true {
            skipBlanks()
            guard let first = rest.first else { return nil }
            if first == "\"" || first == "'" {
                var component = ""
                var index = rest.index(after: rest.startIndex)
                var closed = false
                while index < rest.endIndex {
                    let character = rest[index]
                    if character == first { closed = true; break }
                    if first == "\"", character == "\\" {
                        index = rest.index(after: index)
                        guard index < rest.endIndex else { return nil }
                    }
                    component.append(rest[index])
                    index = rest.index(after: index)
                }
                guard closed else { return nil }
                components.append(component)
                rest = rest[rest.index(after: index)...]
            } else {
                let bare = rest.prefix(while: { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
                guard !bare.isEmpty else { return nil }
                components.append(String(bare))
                rest = rest.dropFirst(bare.count)
            }
            skipBlanks()
            if rest.first == "." { rest = rest.dropFirst(); continue }
            return (components, rest)
        }
    }

    /// Kahn's algorithm, always taking the ready service that appears first in the file.
    /// Unknown `after` targets and cycles are errors on `services.<name>.after`.
    static func startOrder(
        of specs: [String: ServiceSpec], fileOrder: [String], parser: ConfigurationParser
    ) throws(ConfigurationError) -> [ServiceSpec] {
        let ranked = specs.keys.sorted { lhs, rhs in
            let l = fileOrder.firstIndex(of: lhs) ?? Int.max, r = fileOrder.firstIndex(of: rhs) ?? Int.max
            return (l, lhs) < (r, rhs)
        }
        for name in ranked {
            for dependency in specs[name]!.after where specs[dependency] == nil {
                throw parser.error(
                    "services.\(name).after",
                    "unknown service \"\(dependency)\"; configured: \(ranked.joined(separator: ", "))"
                )
            }
        }
        var placed: [String] = []
        var remaining = ranked
        while let next = remaining.firstIndex(where: { name in specs[name]!.after.allSatisfy(placed.contains) }) {
            placed.append(remaining.remove(at: next))
        }
        if let start = remaining.first {
            // Every remaining service waits for another remaining one: walk until a repeat.
            var path = [start]
            var current = start
            while true {
                let next = specs[current]!.after.first(where: remaining.contains)!
                if let loopStart = path.firstIndex(of: next) {
                    let cycle = Array(path[loopStart...]) + [next]
                    throw parser.error(
                        "services.\(cycle[0]).after",
                        "dependency cycle: \(cycle.joined(separator: " -> "))"
                    )
                }
                path.append(next)
                current = next
            }
        }
        return placed.map { specs[$0]! }
    }
}
