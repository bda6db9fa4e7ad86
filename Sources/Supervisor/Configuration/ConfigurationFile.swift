import TOMLKit

/// The configuration file as `TOMLDecoder` reads it: each table as what it sets, every value
/// checked. ``resolve(source:environment:executableDirectory:)`` applies the tables over the
/// defaults and checks what spans keys.
struct ConfigurationFile: ConfigurationTable {
    var orderd = Overrides<DaemonSettings>(), kafka = Overrides<KafkaSettings>()
    var database = Overrides<DatabaseSettings>()
    var defaults = Overrides<SupervisionPolicy>(), services: [(key: String, value: Overrides<ServiceSpec>)] = []

    static var keys: [Key<Self>] {
        [
            Key("orderd", \.orderd, Overrides.self), Key("kafka", \.kafka, Overrides.self),
            Key("database", \.database, Overrides.self),
            Key("defaults", \.defaults, Overrides.self),
            Key("services", \.services, Entries<Overrides<ServiceSpec>>.self),
        ]
    }

    /// Parses `text`; a TOML syntax error names the line, any other error the dotted key.
    static func decode(_ text: String) throws(ConfigurationError) -> ConfigurationFile {
        if let (line, column, problem) = TOMLKitTraps.first(in: text) {
            throw ConfigurationError(
                key: "",
                message: "invalid TOML at line \(line), column \(column): \(problem)",
                line: line
            )
        }
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch {
            let at = (error as? TOMLParseError)?.source.begin
            let message = "invalid TOML at line \(at?.line ?? 0), column \(at?.column ?? 0): \(error)"
            throw ConfigurationError(key: "", message: message, line: at?.line)
        }
        do {
            return try TOMLDecoder().decode(Overrides<Self>.self, from: root).applied(to: ConfigurationFile())
        } catch let error as ConfigurationError {
            throw error
        } catch DecodingError.typeMismatch(let type, let context) {
            // Find what the file has there: TOMLKit's errors name only the Swift type.
            var value: TOMLValueConvertible? = root
            for key in context.codingPath {
                value = key.intValue.flatMap { value?.array?[$0] } ?? value?.table?[key.stringValue]
            }
            let expected = (type as? any ConfigurationValue.Type)?.expected ?? "another type"
            let found = value?.type.description ?? "nothing"
            throw ConfigurationError(dotted(context.codingPath), "expected \(expected), found \(found)")
        } catch {
            throw ConfigurationError("", "cannot decode the configuration: \(error)")
        }
    }
}

/// A table of the file, described key by key.
protocol ConfigurationTable {
    associatedtype Root = Self
    /// Every key the table may have, in the order `orderd check-config` prints them.
    static var keys: [Key<Root>] { get }
}

extension ConfigurationTable {
    /// What `orderd check-config` prints for the keys of `root`.
    static func lines(_ root: Root) -> [String] { keys.compactMap { $0.render(root) } }
}

/// One key of a table: how its value is decoded and checked, where it goes in `Root`, and the
/// line `orderd check-config` prints for it (nil when it is printed apart).
struct Key<Root> {
    let name: String
    let decode: (KeyedDecodingContainer<AnyKey>) throws -> (inout Root) -> Void
    let render: (Root) -> String?
}

extension Key {
    /// `name`, whose value `set` stores; `check` says what is wrong with a value, if anything.
    init<V: ConfigurationValue>(
        _ name: String,
        _ type: V.Type,
        check: @escaping (V.Value) -> String? = { _ in nil },
        render: @escaping (Root) -> String? = { _ in nil },
        set: @escaping (inout Root, V.Value) -> Void
    ) {
        self.init(
            name: name,
            decode: { table in
                let value = try table.value(V.self, at: AnyKey(name))
                if let problem = check(value) {
                    throw ConfigurationError(dotted(table.codingPath + [AnyKey(name)]), problem)
                }
                return { set(&$0, value) }
            },
            render: render
        )
    }

    /// `name`, stored at `path` and printed as `name = <value>`.
    init<V: ConfigurationValue>(
        _ name: String,
        _ path: WritableKeyPath<Root, V.Value>,
        _ type: V.Type,
        check: @escaping (V.Value) -> String? = { _ in nil }
    ) {
        self.init(
            name,
            type,
            check: check,
            render: { "\(name) = \(V.toml($0[keyPath: path]))" },
            set: { $0[keyPath: path] = $1 }
        )
    }

    /// This key in a table of `Outer`, whose `path` holds the `Root`.
    func lifted<Outer>(_ path: WritableKeyPath<Outer, Root>) -> Key<Outer> {
        Key<Outer>(
            name: name,
            decode: { [decode] table in
                let change = try decode(table)
                return { change(&$0[keyPath: path]) }
            },
            render: { [render] in render($0[keyPath: path]) }
        )
    }
}

/// What one table of the file sets, decoded by `Table.keys`; a key they do not list is an
/// error, with a suggestion.
struct Overrides<Table: ConfigurationTable>: ConfigurationValue {
    static var expected: String { "a table" }
    private var names: Set<String> = []
    private var changes: [(inout Table.Root) -> Void] = []

    init() {}

    init(from decoder: any Decoder) throws {
        let table = try decoder.container(keyedBy: AnyKey.self)
        let known = Table.keys.map(\.name)
        for name in table.allKeys.map(\.stringValue) where !known.contains(name) {
            let distance = { (key: String) in editDistance(name.lowercased(), key) }
            let best = known.min { distance($0) < distance($1) }
            let hint = best.flatMap { distance($0) <= max(2, name.count / 4) ? "did you mean \($0)?" : nil }
            let message = "unknown key; " + (hint ?? "expected one of \(known.joined(separator: ", "))")
            throw ConfigurationError(dotted(table.codingPath + [AnyKey(name)]), message)
        }
        for key in Table.keys where table.contains(AnyKey(key.name)) {
            changes.append(try key.decode(table))
            names.insert(key.name)
        }
    }

    func sets(_ name: String) -> Bool { names.contains(name) }

    func applied(to root: Table.Root) -> Table.Root { changes.reduce(into: root) { $1(&$0) } }
}

extension KeyedDecodingContainer<AnyKey> {
    /// The value at `key`; one of the wrong TOML type is reported as the `V` that was expected.
    func value<V: ConfigurationValue>(_ type: V.Type, at key: AnyKey) throws -> V.Value {
        do {
            return try decode(V.self, forKey: key).value
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.count == codingPath.count + 1 {
            throw DecodingError.typeMismatch(V.self, context)
        }
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// `services.a.arguments[1]`, quoting components that are not bare TOML keys.
func dotted(_ path: [any CodingKey]) -> String {
    path.reduce(into: "") { result, key in
        if let index = key.intValue {
            result += "[\(index)]"
            return
        }
        result += (result.isEmpty ? "" : ".") + SupervisorConfiguration.key(key.stringValue)
    }
}

func dotted(_ components: String...) -> String { dotted(components.map(AnyKey.init)) }

func editDistance(_ a: String, _ b: String) -> Int {
    var previous = Array(0...b.count)
    for (i, x) in a.enumerated() {
        var current = [i + 1]
        for (j, y) in b.enumerated() {
            current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
        }
        previous = current
    }
    return previous[b.count]
}

/// Finds what toml++ (under TOMLKit) asserts cannot occur instead of reporting an error, which
/// aborts the process in a debug build and is undefined behaviour in a release one: a table
/// header whose key starts with something no key starts with (`[.a]`, `[=]`, `[é]`), a `}`
/// where an array expects a value (`[}`, `[1,}`), and a line or paragraph separator (U+2028,
/// U+2029, U+0085) outside strings and comments. Headers start statements (a line, or the rest
/// of one after a header) outside strings, comments and multi-line values; valid TOML never
/// matches.
enum TOMLKitTraps {
    /// The 1-based line and column of the first such place, and what is wrong there; nil if none.
    static func first(in text: String) -> (line: Int, column: Int, problem: String)? {
        let scalars = Array(text.unicodeScalars)
        var (index, line, lineStart) = (0, 1, 0)
        var (atStatementStart, inHeader, inValue, expectingElement) = (true, false, false, false)
        var open: [Unicode.Scalar] = []
        func skipBlanks(from start: Int) -> Int {
            var end = start
            while end < scalars.count, scalars[end] == " " || scalars[end] == "\t" { end += 1 }
            return end
        }
        func here(_ problem: String) -> (line: Int, column: Int, problem: String) {
            (line, index - lineStart + 1, problem)
        }
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "\n" {
                (line, lineStart, index) = (line + 1, index + 1, index + 1)
                if open.isEmpty { (atStatementStart, inValue) = (true, false) }
                continue
            }
            if scalar == " " || scalar == "\t" || scalar == "\r" {
                index += 1
                continue
            }
            if ["\u{2028}", "\u{2029}", "\u{85}"].contains(scalar) {
                return here(
                    "a line or paragraph separator (U+\(String(scalar.value, radix: 16, uppercase: true))) outside a string"
                )
            }
            if expectingElement, scalar == "}" { return here("'}' where the array expects a value or ']'") }
            if scalar != "#" { expectingElement = false }
            if atStatementStart {
                atStatementStart = false
                if scalar == "[" {
                    inHeader = true
                    var key = skipBlanks(from: index + 1)
                    if key < scalars.count, scalars[key] == "[" { key = skipBlanks(from: key + 1) }
                    if key < scalars.count, !startsKey(scalars[key]), scalars[key] != "]" {
                        return here("a table header starts with a key: a letter, digit, '_', '-' or a quoted key")
                    }
                }
            }
            switch scalar {
            case "#":
                while index + 1 < scalars.count, scalars[index + 1] != "\n" { index += 1 }
            case "\"", "'":
                let delimiters = Array(repeating: scalar, count: 3)
                let multiLine = scalars[index...].starts(with: delimiters)
                index += multiLine ? 3 : 1
                while index < scalars.count, !scalars[index...].starts(with: multiLine ? delimiters : [scalar]) {
                    if scalars[index] == "\n" { (line, lineStart) = (line + 1, index + 1) }
                    index += scalar == "\"" && scalars[index] == "\\" ? 2 : 1
                }
                // A multi-line string may end in up to two quotes of its own before its delimiter.
                index += multiLine ? 2 : 0
                while multiLine, index + 1 < scalars.count, scalars[index + 1] == scalar { index += 1 }
            case "=":
                inValue = true
            case "[" where inValue, "{" where inValue:
                open.append(scalar)
                expectingElement = scalar == "["
            case "," where open.last == "[":
                expectingElement = true
            case "]", "}":
                if inValue { _ = open.popLast() }
                // toml++ reads another header or key right after a header, on the same line.
                if inHeader { (inHeader, atStatementStart) = (false, true) }
            default:
                break
            }
            index += 1
        }
        return nil
    }

    private static func startsKey(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9", "_", "-", "\"", "'": true
        default: false
        }
    }
}
