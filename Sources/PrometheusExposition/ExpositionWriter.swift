/// Renders metric families as Prometheus text exposition format 0.0.4.
///
/// Output per family: `# HELP name text` if ``MetricFamily/help`` is non-nil (escaped),
/// then always `# TYPE name type` (also for untyped families), then one line per sample in
/// the given order: `name{label="value",...} value[ timestamp]` (no braces without labels,
/// label values escaped). Every line, including the last, ends with `\n`; no families give
/// an empty string.
///
/// Guarantees: never fails and never reorders. For families produced by
/// ``ExpositionParser/parse(_:)`` the round trip `parse(write(families)) == families` holds.
/// Names, values and timestamps of hand-built families are written as they are, without
/// validation, so invalid ones produce output the parser rejects. A HELP text that ends in
/// whitespace loses it on re-parsing (the parser trims lines).
public enum ExpositionWriter {
    public static func write(_ families: [MetricFamily]) -> String {
        var out = ""
        for family in families {
            appendHeader(name: family.name, help: family.help, type: family.type, to: &out)
            for sample in family.samples {
                appendSample(sample, to: &out)
            }
        }
        return out
    }

    static func appendHeader(name: String, help: String?, type: MetricType, to out: inout String) {
        if let help {
            out += "# HELP \(name)"
            if !help.isEmpty {
                out += " " + Escaping.help(help)
            }
            out += "\n"
        }
        out += "# TYPE \(name) \(type.rawValue)\n"
    }

    static func appendSample(_ sample: Sample, to out: inout String) {
        out += sample.name
        if !sample.labels.isEmpty {
            out += "{"
            for (offset, label) in sample.labels.enumerated() {
                if offset > 0 { out += "," }
                out += label.name + "=\"" + Escaping.labelValue(label.value) + "\""
            }
            out += "}"
        }
        out += " " + sample.value
        if let timestamp = sample.timestamp {
            out += " " + timestamp
        }
        out += "\n"
    }
}
