import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the tests take from the shipped `etc/prometheus/prometheus.yml`: the platform job's name and
/// metrics path (any other setting of that job is refused), and its rule files. The file as a
/// whole (and every rule file) is validated by `promtool check config` in scripts/check-monitoring;
/// reading these few keys by pattern keeps a YAML parser out of the test dependencies.
struct ShippedPrometheusConfig: Sendable {
    var jobs: [String]
    var metricsPath: String
    /// The rule files the shipped configuration names, globs expanded, absolute.
    var ruleFiles: [String]
    /// How many `- alert:` and `- record:` rules those files hold.
    var ruleCount: Int

    static func load(_ path: String, job: String) throws -> ShippedPrometheusConfig {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let jobs = captures(#"job_name:\s*"?([\w.-]+)"?"#, in: text)
        guard let jobStart = text.range(of: "job_name: \(job)") else {
            throw PlatformError("\(path) has no scrape job named \(job) (jobs: \(jobs))")
        }
        let jobBlock = text[jobStart.upperBound...].components(separatedBy: "job_name:")[0]
        let metricsPath = captures(#"metrics_path:\s*"?(\S+?)"?\s*$"#, in: jobBlock).first ?? "/metrics"
        // A setting the test would not carry over (relabelling, honor_labels, …) fails loudly
        // rather than being silently left out of what is tested.
        let understood: Set = ["metrics_path", "static_configs", "targets", "scrape_interval", "scrape_timeout"]
        let others = Set(captures(#"^\s*(?:-\s*)?(\w+):(?:\s|$)"#, in: jobBlock)).subtracting(understood)
        guard others.isEmpty else {
            throw PlatformError(
                "\(path): job \(job) sets \(others.sorted()), which the monitoring tests do not carry over; "
                    + "teach ShippedPrometheusConfig and PrometheusHarness about them"
            )
        }
        let directory = (path as NSString).deletingLastPathComponent
        // The list items right under `rule_files:`, up to the next key.
        let ruleLines = (text.components(separatedBy: "\nrule_files:").dropFirst().first ?? "").split(separator: "\n")
        let patterns = ruleLines.map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .prefix { $0.hasPrefix("-") }
            .map { $0.dropFirst().trimmingCharacters(in: CharacterSet(charactersIn: " \"'")) }
        let ruleFiles = patterns.flatMap { expand($0.hasPrefix("/") ? $0 : "\(directory)/\($0)") }
        guard !ruleFiles.isEmpty else { throw PlatformError("\(path): rule_files names no existing file") }
        let ruleCount = try ruleFiles.map {
            captures(#"(?m)^\s*-\s*(alert|record):"#, in: try String(contentsOfFile: $0, encoding: .utf8)).count
        }.reduce(0, +)
        return ShippedPrometheusConfig(jobs: jobs, metricsPath: metricsPath, ruleFiles: ruleFiles, ruleCount: ruleCount)
    }
}

/// A Grafana dashboard's Prometheus expressions (panels, nested and row panels, annotations) and its
/// template variables.
struct Dashboard: Sendable {
    struct Query: Sendable {
        var title: String
        var refId: String
        var expr: String
        /// Hidden targets and annotations need not return data.
        var hidden: Bool
    }

    struct Variable: Sendable {
        var name: String
        var type: String
        var query: String?
        /// Values listed in the dashboard itself (options, the current selection unless "All").
        var listed: [String]
    }

    var file: String
    var queries: [Query] = []
    var variables: [Variable] = []

    /// Grafana's built-in variables, as a dashboard sees them over a short range.
    static let builtins = [
        "__rate_interval": "1m", "__interval": "15s", "__interval_ms": "15000", "__range": "5m", "__range_s": "300",
        "__range_ms": "300000", "__auto_interval": "15s", "interval": "1m",
    ]

    /// Reads a dashboard file (the bare model or the `{"dashboard": …}` API form); throws on invalid JSON.
    static func load(_ path: String) throws -> Dashboard {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw PlatformError("\(path): not valid JSON (\(error))")
        }
        guard let document = parsed as? [String: Any] else { throw PlatformError("\(path): not a JSON object") }
        let model = document["dashboard"] as? [String: Any] ?? document
        var dashboard = Dashboard(file: (path as NSString).lastPathComponent)
        dashboard.walk(model["panels"])
        for row in model["rows"] as? [[String: Any]] ?? [] { dashboard.walk(row["panels"]) }  // pre-5.0 schema
        for annotation in (model["annotations"] as? [String: Any])?["list"] as? [[String: Any]] ?? [] {
            if let expr = annotation["expr"] as? String, !expr.trimmingCharacters(in: .whitespaces).isEmpty {
                let title = "annotation \(annotation["name"] as? String ?? "?")"
                dashboard.queries.append(Query(title: title, refId: "annotation", expr: expr, hidden: true))
            }
        }
        for variable in (model["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? [] {
            guard let name = variable["name"] as? String else { continue }
            let query = (variable["query"] as? [String: Any])?["query"] as? String ?? variable["query"] as? String
            var listed = (variable["options"] as? [[String: Any]] ?? []).compactMap { $0["value"] as? String }
            let current = (variable["current"] as? [String: Any])?["value"]
            if let current = (current as? [String])?.first ?? current as? String { listed.append(current) }
            listed = listed.filter { !$0.isEmpty && $0 != "$__all" && $0 != "All" }
            dashboard.variables.append(
                Variable(name: name, type: variable["type"] as? String ?? "", query: query, listed: listed)
            )
        }
        return dashboard
    }

    private mutating func walk(_ panels: Any?, prefix: String = "") {
        for panel in panels as? [[String: Any]] ?? [] {
            let title = prefix + (panel["title"] as? String ?? "panel \(panel["id"] ?? "?")")
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                guard let expr = target["expr"] as? String, !expr.trimmingCharacters(in: .whitespaces).isEmpty else {
                    continue
                }
                let refId = target["refId"] as? String ?? "?"
                queries.append(Query(title: title, refId: refId, expr: expr, hidden: target["hide"] as? Bool ?? false))
            }
            let isRow = panel["type"] as? String == "row"
            walk(panel["panels"], prefix: isRow ? "\(panel["title"] as? String ?? "") / " : prefix)
        }
    }

    /// Replaces Grafana variables: a built-in by a typical value; a dashboard variable by `.*` where it
    /// is matched as a regex (`=~"$v"`), by a value matching nothing where negated (`!~"$v"`), by its
    /// first value (`resolved`) elsewhere.
    func substitute(_ expr: String, resolved: [String: [String]]) -> String {
        let text = expr as NSString
        let pattern = regex(#"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)"#)
        var output = ""
        var end = 0
        for match in pattern.matches(in: expr, range: NSRange(location: 0, length: text.length)) {
            let group = (1...3).map { match.range(at: $0) }.first { $0.location != NSNotFound }!
            let name = text.substring(with: group)
            let before = text.substring(to: match.range.location)
            let replacement: String
            if let variable = variables.first(where: { $0.name == name }) {
                let values = resolved[name] ?? []
                if variable.type == "interval" {
                    replacement = values.first ?? "1m"
                } else if matches(#"=~\s*"[^"]*$"#, before) {
                    replacement = ".*"
                } else if matches(#"!~\s*"[^"]*$"#, before) {
                    replacement = "__no_such_value__"
                } else {
                    replacement = values.first ?? ".*"
                }
            } else {
                replacement = Self.builtins[name] ?? text.substring(with: match.range)
            }
            output += text.substring(with: NSRange(location: end, length: match.range.location - end)) + replacement
            end = NSMaxRange(match.range)
        }
        return output + text.substring(from: end)
    }
}

extension PrometheusHarness {
    /// A dashboard variable's concrete values: a query variable's through this Prometheus
    /// (`label_values(expr, label)`, `label_values(label)`, `query_result(expr)`), others as listed.
    func values(
        of variable: Dashboard.Variable,
        in dashboard: Dashboard,
        resolved: [String: [String]],
        at time: Double
    )
        async throws -> [String]
    {
        var values: [String] = []
        if variable.type == "query", let query = variable.query {
            let labelValues = captureGroups(#"^\s*label_values\((?:([\s\S]*),)?\s*(\w+)\s*\)\s*$"#, in: query)
            let queryResult = captures(#"^\s*query_result\(([\s\S]*)\)\s*$"#, in: query)
            if let groups = labelValues, let selector = groups[0] {
                let label = groups[1]!
                let expr = "count by (\(label)) (\(dashboard.substitute(selector, resolved: resolved)))"
                values = try await self.query(expr, at: time).series.compactMap { $0[label] }
            } else if let groups = labelValues {
                values = try await api("/api/v1/label/\(groups[1]!)/values", as: [String].self)
            } else if let expr = queryResult.first {
                values = try await self.query(dashboard.substitute(expr, resolved: resolved), at: time).series.map {
                    $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                }
            }
        } else if ["custom", "interval"].contains(variable.type), variable.listed.isEmpty, let query = variable.query {
            values = query.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        } else if ["constant", "textbox"].contains(variable.type), let query = variable.query {
            values = [query]
        }
        return (values + variable.listed.filter { !values.contains($0) }).filter { !$0.isEmpty }
    }
}

/// True when `text` (an expression or a metric name) depends on kafka-exporter (danielqsj/kafka-exporter),
/// which these tests do not run. The platform's own kafka_* series (kafka_consumer_lag,
/// kafka_client_queue_messages, kafka_broker_rtt_seconds) are not among them.
func dependsOnKafkaExporter(_ text: String) -> Bool {
    matches(#"\bkafka_(?:brokers|broker_info|topic_\w+|consumergroup\w*)\b|job\s*=~?\s*"kafka-exporter""#, text)
}

/// The metric names a PromQL expression selects (strings, label matchers, ranges, grouping labels
/// and comments removed; a name followed by a parenthesis is a function).
func selectedMetrics(_ expr: String) -> Set<String> {
    let keywords: Set = [
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
        "inf", "nan", "start", "end",
    ]
    var text = replacing(#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`"#, in: expr, with: "\"\"")
    text = replacing(#"\{[^}]*\}|\[[^\]]*\]"#, in: text, with: " ")
    text = replacing(#"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"#, in: text, with: " ")
    text = replacing(#"#[^\n]*"#, in: text, with: " ")
    var names: Set<String> = []
    let ns = text as NSString
    let identifier = regex(#"(?<![\w.])([a-zA-Z_:][\w:]*)\b(\s*\()?"#)
    for match in identifier.matches(in: text, range: NSRange(location: 0, length: ns.length))
    where match.range(at: 2).location == NSNotFound {
        let name = ns.substring(with: match.range(at: 1))
        if !keywords.contains(name.lowercased()) { names.insert(name) }
    }
    return names
}

/// The paths matching a shell glob, sorted.
func expand(_ pattern: String) -> [String] {
    var found = glob_t()
    defer { globfree(&found) }
    guard glob(pattern, 0, nil, &found) == 0 else { return [] }
    return (0..<Int(found.gl_pathc)).compactMap { found.gl_pathv[$0].map { String(cString: $0) } }.sorted()
}

// MARK: NSRegularExpression, briefly

private func regex(_ pattern: String) -> NSRegularExpression {
    try! NSRegularExpression(pattern: pattern, options: [.anchorsMatchLines])
}

private func matches(_ pattern: String, _ text: String) -> Bool {
    regex(pattern).firstMatch(in: text, range: NSRange(location: 0, length: (text as NSString).length)) != nil
}

private func replacing(_ pattern: String, in text: String, with template: String) -> String {
    regex(pattern).stringByReplacingMatches(
        in: text,
        range: NSRange(location: 0, length: (text as NSString).length),
        withTemplate: template
    )
}

/// Every match's groups (nil where a group did not take part) of the first match.
private func captureGroups(_ pattern: String, in text: String) -> [String?]? {
    let ns = text as NSString
    guard let match = regex(pattern).firstMatch(in: text, range: NSRange(location: 0, length: ns.length)) else {
        return nil
    }
    return (1..<match.numberOfRanges).map {
        match.range(at: $0).location == NSNotFound ? nil : ns.substring(with: match.range(at: $0))
    }
}

/// The first group of every match.
private func captures(_ pattern: String, in text: some StringProtocol) -> [String] {
    let text = String(text)
    let ns = text as NSString
    return regex(pattern).matches(in: text, range: NSRange(location: 0, length: ns.length)).map {
        ns.substring(with: $0.range(at: 1))
    }
}
