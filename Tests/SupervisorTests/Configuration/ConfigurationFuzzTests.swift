import Foundation
import Fuzzing
import Testing
@testable import Supervisor

/// orderd's configuration file, mutated (the shipped etc/orderd.toml, the test fixtures and
/// their `check-config` renderings are the corpus): parsing returns a configuration or a
/// ``ConfigurationError`` naming the file, never traps; an accepted configuration is consistent,
/// and what `orderd check-config` prints for it parses back to the same configuration (secrets
/// aside) and prints the same again. `FUZZ_ITERATIONS` and `FUZZ_SEED` run it longer (README, Testing).
@Suite("Configuration: fuzzing")
struct ConfigurationFuzzTests {
    static let source = "fuzz.toml"

    static let fuzzer: Fuzzer = {
        let shipped = (try? String(contentsOfFile: ConfigurationFixtures.shippedConfig, encoding: .utf8)) ?? ""
        let texts = [shipped, RenderingTests.rich] + ConfigurationValidationTests.cases.map(\.toml)
        let renderings = [shipped, RenderingTests.rich].compactMap { try? ConfigurationFixtures.parse($0).rendered() }
        let keys =
            DaemonSettings.keys.map(\.name) + KafkaSettings.keys.map(\.name) + ServiceSpec.keys.map(\.name)
            + SupervisionPolicy.Probes.keys.map(\.name)
        return Fuzzer(
            "orderd configuration",
            corpus: (texts + renderings).map { Array($0.utf8) },
            tokens: keys.map { "\($0) = " } + [
                "\"1ms\"", "\"0s\"", "\"1.5s\"", "\"1m30s\"", "\"292y\"", "\"9223372036s\"", "\"2562047h\"",
                "\"0.0000000001s\"", "\"1µs\"", "9223372036", "0", "-1", "true", "1979-05-27T07:32:00Z", "inf", "nan",
                "1e400", "[]", "{}", "\"\"", "''", "\"\"\"", "'''", "\\u0000", "\\U0010FFFF", "\\uD800", "\"a.b\" = 1",
                "[services.x]", "[[services]]", "[kafka.properties]", "sasl.password = \"p\"", "after = [\"a\"]",
            ],
            structure: .lines([
                "[orderd]", "[kafka]", "[defaults]", "[defaults.probes]", "[services.a]", "[services.b]",
                "[services.a.probes]", "[services.a.environment]", "[kafka.properties]", "metrics_port = 9301",
                "metrics_port = 9302", "after = [\"b\"]", "after = [\"a\"]", "stop_timeout = \"1h\"",
                "backoff_initial = \"1m\"", "linger.ms = 5", "\"linger.ms\" = 6", "METRICS_PORT = \"9301\"",
                "socket_path = \"/tmp/\(String(repeating: "s", count: 100))\"", "brokers = [\"a:1\", \" \"]",
                "priority = -1000000", "restart = \"always\"", "log_level = \"trace\"", "",
            ])
        )
    }()

    @Test func parsesOrRejectsAndRendersToTheSameConfiguration() {
        let report = Self.fuzzer.run(.fromEnvironment(defaultIterations: 800), property: Self.check)
        #expect(report.findingCount == 0, "\(report)")
        #expect(report.accepted > report.settings.iterations / 50, "too few configurations parse: \(report)")
    }

    /// What the fuzzer found: toml++ asserted (aborting orderd, and `orderd check-config`) on a
    /// table header whose key starts with a character no key starts with, and on a `}` where an
    /// array expects a value; a line separator outside strings reaches the same assertion.
    @Test(arguments: [
        ("[services.a]\nmetrics_port = 9301\n[\u{1F4A5}services.a.probes]\nliveness_failure_threshold = 0\n", 3),
        ("[.services]\n", 1), ("[ =]\n", 1), ("[[!x]]\n", 1), ("[\u{E9}]\n", 1), ("a = 1\n  [#]\n", 2),
        ("[a] [!b]\n", 1), ("[[a]][=]\n", 1),
        ("[services.a]\nmetrics_port = 9301\nafter = [}\u{FFFD}=.\"b\"]\n[services.b]\nmetrics_port = 9302\n", 3),
        ("a = [1,}\n", 1), ("a = [ # comment\n}\n", 2), ("a = {b = [}}\n", 1), ("a = [\u{2028}1]\n", 1),
        ("a = 1\u{85}\n", 1),
    ])
    func reportsWhatTOMLKitWouldAssert(text: String, line: Int) throws {
        let error = try #require(ConfigurationFixtures.error(text))
        #expect(error.key == "" && error.message.hasPrefix("invalid TOML at line \(line), column "), "\(error)")
        #expect(error.line == line)
    }

    @Test func findsNoHeaderInsideStringsCommentsOrValues() throws {
        let text = #"""
            [services.a]
            metrics_port = 9301
            arguments = [
            "--x", # [!comment
            ]
            [services.a.environment]
            TEXT = """
            [!not a header """"
            LITERAL = '''
            [=neither'''
            """#
        let configuration = try ConfigurationFixtures.parse(text)
        #expect(configuration.services.first?.environment["TEXT"] == "[!not a header \"")
        let nested = "[kafka.properties]\nx = [\n[!1]]\n" + ConfigurationValidationTests.service
        #expect(ConfigurationFixtures.error(nested)?.message.contains("table header") == false)
    }

    static func check(_ bytes: [UInt8]) -> FuzzVerdict {
        let configuration: SupervisorConfiguration
        do {
            configuration = try ConfigurationFixtures.parse(String(decoding: bytes, as: UTF8.self), source: source)
        } catch {
            guard error.file == source, !error.message.isEmpty else { return .violated("an unhelpful error: \(error)") }
            return .rejected
        }
        let names = configuration.services.map(\.name)
        let ports = [configuration.daemon.metricsPort] + configuration.services.map(\.metricsPort)
        guard !names.isEmpty, Set(names).count == names.count, Set(ports).count == ports.count else {
            return .violated("accepted services with a repeated name or port: \(names), \(ports)")
        }
        for (index, service) in configuration.services.enumerated()
        where !service.after.allSatisfy(names.prefix(index).contains) {
            return .violated("\(service.name) starts before one of \(service.after)")
        }
        let rendered = configuration.rendered()
        do {
            let reparsed = try ConfigurationFixtures.parse(rendered, source: source)
            guard reparsed == redacted(configuration) else {
                return .violated("check-config's output parses to another configuration:\n\(rendered)")
            }
            guard reparsed.rendered() == rendered else {
                return .violated("rendering is not a fixed point:\n\(rendered)")
            }
        } catch {
            return .violated("check-config's output does not parse: \(error)\n\(rendered)")
        }
        return .accepted
    }

    /// `configuration` with every secret shown as check-config shows it.
    static func redacted(_ configuration: SupervisorConfiguration) -> SupervisorConfiguration {
        func hide(_ values: [String: String]) -> [String: String] {
            Dictionary(
                uniqueKeysWithValues: values.map {
                    ($0.key, KafkaSettings.isSecret($0.key) ? SupervisorConfiguration.redacted : $0.value)
                }
            )
        }
        var copy = configuration
        copy.kafka.properties = hide(copy.kafka.properties)
        for index in copy.services.indices { copy.services[index].environment = hide(copy.services[index].environment) }
        return copy
    }
}
