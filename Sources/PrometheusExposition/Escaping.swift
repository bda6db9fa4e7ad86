/// Escaping rules of the text format. Internal.
enum Escaping {
    /// HELP text: `\` → `\\`, line feed → `\n`.
    static func help(_ text: String) -> String {
        escape(text) { scalar in
            switch scalar {
            case "\\": #"\\"#
            case "\n": #"\n"#
            default: nil
            }
        }
    }

    /// Label values: `\` → `\\`, `"` → `\"`, line feed → `\n`.
    static func labelValue(_ text: String) -> String {
        escape(text) { scalar in
            switch scalar {
            case "\\": #"\\"#
            case "\"": #"\""#
            case "\n": #"\n"#
            default: nil
            }
        }
    }

    private static func escape(_ text: String, _ replacement: (Unicode.Scalar) -> String?) -> String {
        guard text.unicodeScalars.contains(where: { replacement($0) != nil }) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if let replaced = replacement(scalar) {
                out.append(contentsOf: replaced.unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}
