import Testing
@testable import Supervisor

@Suite("Configuration validation")
struct ConfigurationValidationTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let toml: String
        let key: String
        let message: String
        var testDescription: String { name }
    }

    static let service = "\n[services.a]\nmetrics_port = 9301\n"

    static let cases: [Case] = [
        // Unknown keys, at every level, with a suggestion for typos.
        Case(
            name: "unknown root table",
            toml: "[orderdd]\n" + service,
            key: "orderdd",
            message: "unknown key; did you mean orderd?"
        ),
        Case(
            name: "unknown [orderd] key",
            toml: "[orderd]\nmetrics_prot = 1\n" + service,
            key: "orderd.metrics_prot",
            message: "did you mean metrics_port?"
        ),
        Case(
            name: "unknown [kafka] key",
            toml: "[kafka]\nbroker = \"x:1\"\n" + service,
            key: "kafka.broker",
            message: "did you mean brokers?"
        ),
        Case(
            name: "unknown [defaults] key",
            toml: "[defaults]\nstop_timeot = \"1s\"\n" + service,
            key: "defaults.stop_timeot",
            message: "did you mean stop_timeout?"
        ),
        Case(
            name: "unknown [defaults.probes] key",
            toml: "[defaults.probes]\ntimeout_ms = 5\n" + service,
            key: "defaults.probes.timeout_ms",
            message: "unknown key"
        ),
        Case(
            name: "unknown service key",
            toml: "[services.a]\nmetrics_port = 9301\nrestrat = \"always\"\n",
            key: "services.a.restrat",
            message: "did you mean restart?"
        ),
        Case(
            name: "unknown service probes key",
            toml: "[services.a]\nmetrics_port = 9301\n[services.a.probes]\nintervall = \"1s\"\n",
            key: "services.a.probes.intervall",
            message: "did you mean interval?"
        ),
        Case(
            name: "unrelated unknown key lists the allowed ones",
            toml: "[orderd]\nzzz = 1\n" + service,
            key: "orderd.zzz",
            message: "expected one of socket_path"
        ),
        Case(
            name: "service keys are not daemon keys",
            toml: "[services.a]\nmetrics_port = 9301\nlog_level = \"debug\"\n",
            key: "services.a.log_level",
            message: "unknown key"
        ),

        // Durations.
        Case(
            name: "bad duration",
            toml: "[services.a]\nmetrics_port = 9301\nbackoff_initial = \"fast\"\n",
            key: "services.a.backoff_initial",
            message: "\"fast\" is not a duration"
        ),
        Case(
            name: "duration without unit",
            toml: "[orderd]\nscrape_timeout = \"5\"\n" + service,
            key: "orderd.scrape_timeout",
            message: "is not a duration"
        ),
        Case(
            name: "negative duration string",
            toml: "[defaults]\nbackoff_max = \"-5s\"\n" + service,
            key: "defaults.backoff_max",
            message: "is not a duration"
        ),
        Case(
            name: "negative integer duration",
            toml: "[services.a]\nmetrics_port = 9301\nstop_timeout = -1\n",
            key: "services.a.stop_timeout",
            message: "-1 must be a positive duration"
        ),
        Case(
            name: "zero integer duration",
            toml: "[orderd]\nstop_timeout = 0\n" + service,
            key: "orderd.stop_timeout",
            message: "must be a positive duration"
        ),
        Case(
            name: "zero duration string",
            toml: "[defaults.probes]\ninterval = \"0s\"\n" + service,
            key: "defaults.probes.interval",
            message: "must be longer than zero"
        ),
        Case(
            name: "duration of the wrong type",
            toml: "[services.a]\nmetrics_port = 9301\n[services.a.probes]\ntimeout = 1.5\n",
            key: "services.a.probes.timeout",
            message: "found floating-point number"
        ),
        Case(
            name: "backoff initial above maximum",
            toml: "[services.a]\nmetrics_port = 9301\nbackoff_initial = \"1m\"\n",
            key: "services.a.backoff_initial",
            message: "backoff_initial (1m) is longer than backoff_max (30s)"
        ),
        Case(
            name: "backoff maximum below initial in defaults",
            toml: "[defaults]\nbackoff_max = \"50ms\"\n" + service,
            key: "defaults.backoff_max",
            message: "is longer than backoff_max (50ms)"
        ),
        Case(
            name: "service stop timeout above the total budget",
            toml: "[services.a]\nmetrics_port = 9301\nstop_timeout = \"31s\"\n",
            key: "services.a.stop_timeout",
            message: "longer than orderd.stop_timeout (30s)"
        ),
        Case(
            name: "total budget below a service's default stop timeout",
            toml: "[orderd]\nstop_timeout = \"5s\"\n" + service,
            key: "orderd.stop_timeout",
            message: "shorter than the stop timeout of services.a (10s)"
        ),

        // Values.
        Case(
            name: "bad restart value",
            toml: "[services.a]\nmetrics_port = 9301\nrestart = \"sometimes\"\n",
            key: "services.a.restart",
            message: "\"sometimes\" is not a restart policy; use one of always, on-failure, never"
        ),
        Case(
            name: "bad restart value in defaults",
            toml: "[defaults]\nrestart = \"on_failure\"\n" + service,
            key: "defaults.restart",
            message: "is not a restart policy"
        ),
        Case(
            name: "bad log level",
            toml: "[orderd]\nlog_level = \"verbose\"\n" + service,
            key: "orderd.log_level",
            message: "use one of trace, debug, info, notice, warning, error, critical"
        ),
        Case(
            name: "threshold below one",
            toml: "[services.a]\nmetrics_port = 9301\n[services.a.probes]\nliveness_failure_threshold = 0\n",
            key: "services.a.probes.liveness_failure_threshold",
            message: "0 is out of range; expected 1–"
        ),
        Case(
            name: "start limit burst below one",
            toml: "[defaults]\nstart_limit_burst = 0\n" + service,
            key: "defaults.start_limit_burst",
            message: "out of range"
        ),
        Case(
            name: "embedded partitions below one",
            toml: "[kafka]\nembedded_partitions = 0\n" + service,
            key: "kafka.embedded_partitions",
            message: "out of range"
        ),
        Case(
            name: "wrong type",
            toml: "[services.a]\nmetrics_port = \"9301\"\n",
            key: "services.a.metrics_port",
            message: "expected an integer, found string"
        ),
        Case(
            name: "empty string",
            toml: "[orderd]\ndata_directory = \"\"\n" + service,
            key: "orderd.data_directory",
            message: "must not be empty"
        ),
        Case(
            name: "bad socket group",
            toml: "[orderd]\nsocket_group = \"ops team\"\n" + service,
            key: "orderd.socket_group",
            message: "not a valid group name"
        ),
        Case(
            name: "socket path too long",
            toml: "[orderd]\nsocket_path = \"/\(String(repeating: "x", count: 120))\"\n" + service,
            key: "orderd.socket_path",
            message: "at most 103"
        ),
        Case(
            name: "empty brokers",
            toml: "[kafka]\nbrokers = \"\"\n" + service,
            key: "kafka.brokers",
            message: "at least one"
        ),
        Case(
            name: "broker property",
            toml: "[kafka.properties]\n\"bootstrap.servers\" = \"x:1\"\n" + service,
            key: "kafka.properties.\"bootstrap.servers\"",
            message: "set kafka.brokers instead"
        ),
        Case(
            name: "property of the wrong type",
            toml: "[kafka.properties]\n\"linger.ms\" = [1]\n" + service,
            key: "kafka.properties.\"linger.ms\"",
            message: "found array"
        ),
        Case(
            name: "properties mapping to one variable",
            toml: "[kafka.properties]\n\"a.b\" = \"1\"\n\"a-b\" = \"2\"\n" + service,
            key: "kafka.properties.\"a.b\"",
            message: "same environment variable KAFKA_A_B"
        ),
        Case(
            name: "bad environment variable name",
            toml: "[services.a]\nmetrics_port = 9301\n[services.a.environment]\n1ABC = \"x\"\n",
            key: "services.a.environment.1ABC",
            message: "not a valid environment variable name"
        ),
        Case(
            name: "environment value of the wrong type",
            toml: "[services.a]\nmetrics_port = 9301\n[services.a.environment]\nX = [1]\n",
            key: "services.a.environment.X",
            message: "expected a string, integer or boolean"
        ),
        Case(
            name: "METRICS_PORT disagreeing with metrics_port",
            toml: "[services.a]\nmetrics_port = 9301\n[services.a.environment]\nMETRICS_PORT = \"9999\"\n",
            key: "services.a.environment.METRICS_PORT",
            message: "differs from metrics_port (9301)"
        ),
        Case(
            name: "argument of the wrong type",
            toml: "[services.a]\nmetrics_port = 9301\narguments = [\"--x\", 2]\n",
            key: "services.a.arguments[1]",
            message: "expected a string, found integer"
        ),

        // Services.
        Case(
            name: "missing metrics_port",
            toml: "[services.a]\nexecutable = \"a\"\n",
            key: "services.a.metrics_port",
            message: "is required"
        ),
        Case(
            name: "metrics_port out of range",
            toml: "[services.a]\nmetrics_port = 70000\n",
            key: "services.a.metrics_port",
            message: "70000 is out of range; expected 1–65535"
        ),
        Case(
            name: "no services",
            toml: "[orderd]\nlog_level = \"info\"\n",
            key: "services",
            message: "at least one service is required"
        ),
        Case(
            name: "service that is not a table",
            toml: "[services]\na = 1\n",
            key: "services.a",
            message: "expected a table"
        ),
        Case(
            name: "bad service name",
            toml: "[services.\"a b\"]\nmetrics_port = 9301\n",
            key: "services.\"a b\"",
            message: "a service name is"
        ),
        Case(
            name: "unknown after target",
            toml: "[services.a]\nmetrics_port = 9301\nafter = [\"ghost\"]\n",
            key: "services.a.after",
            message: "unknown service \"ghost\"; configured: a"
        ),
        Case(
            name: "after is not an array",
            toml: "[services.a]\nmetrics_port = 9301\nafter = \"b\"\n",
            key: "services.a.after",
            message: "expected an array of service names"
        ),
        Case(
            name: "self dependency",
            toml: "[services.a]\nmetrics_port = 9301\nafter = [\"a\"]\n",
            key: "services.a.after",
            message: "dependency cycle: a -> a"
        ),
        Case(
            name: "cycle",
            toml: """
                [services.a]
                metrics_port = 9301
                after = ["b"]
                [services.b]
                metrics_port = 9302
                after = ["c"]
                [services.c]
                metrics_port = 9303
                after = ["a"]
                [services.d]
                metrics_port = 9304
                """,
            key: "services.a.after",
            message: "dependency cycle: a -> b -> c -> a"
        ),
        Case(
            name: "cycle behind a service that is not in it",
            toml: """
                [services.x]
                metrics_port = 9300
                after = ["y"]
                [services.y]
                metrics_port = 9301
                after = ["z"]
                [services.z]
                metrics_port = 9302
                after = ["y"]
                """,
            key: "services.y.after",
            message: "dependency cycle: y -> z -> y"
        ),
        Case(
            name: "duplicate metrics ports",
            toml: "[services.a]\nmetrics_port = 9301\n[services.b]\nmetrics_port = 9301\n",
            key: "services.b.metrics_port",
            message: "port 9301 is already used by services.a.metrics_port"
        ),
        Case(
            name: "metrics port of orderd itself",
            toml: "[services.a]\nmetrics_port = 9200\n",
            key: "services.a.metrics_port",
            message: "port 9200 is already used by orderd.metrics_port"
        ),
    ]

    @Test(arguments: cases)
    func namesTheKeyAndTheFile(_ testCase: Case) throws {
        let error = try #require(ConfigurationFixtures.error(testCase.toml, source: "/etc/orderd/test.toml"))
        #expect(error.file == "/etc/orderd/test.toml")
        #expect(error.key == testCase.key)
        #expect(error.message.contains(testCase.message), "\(error.message)")
        #expect(error.description == "/etc/orderd/test.toml: \(testCase.key): \(error.message)")
        #expect(error.line == nil)
    }

    @Test func invalidTOMLNamesTheFileAndTheLine() throws {
        let error = try #require(
            ConfigurationFixtures.error(
                """
                [orderd]
                log_level = "info"
                metrics_port = = 3

                [services.a]
                metrics_port = 9301
                """,
                source: "broken.toml"
            )
        )
        #expect(error.file == "broken.toml")
        #expect(error.key == "")
        #expect(error.line == 3)
        #expect(error.description.hasPrefix("broken.toml: invalid TOML at line 3, column "))
    }

    @Test func duplicateTOMLKeyIsASyntaxError() throws {
        let error = try #require(
            ConfigurationFixtures.error("[services.a]\nmetrics_port = 9301\nmetrics_port = 9302\n")
        )
        #expect(error.line == 3)
        #expect(error.message.hasPrefix("invalid TOML at line 3"))
    }

    @Test func environmentDefaultedSocketPathThatIsTooLongSaysSo() throws {
        let error = try #require(
            ConfigurationFixtures.error(
                Self.service,
                environment: ["RUNTIME_DIRECTORY": "/" + String(repeating: "r", count: 110)]
            )
        )
        #expect(error.key == "orderd.socket_path")
        #expect(error.message.contains("set orderd.socket_path"))
    }

    @Test(arguments: [
        ("ops", true), ("_ops.team-1", true), ("machine$", true), ("1000", true), ("1000$", true),
        (String(repeating: "g", count: 32), true), (String(repeating: "g", count: 33), false), ("1ops", false),
        ("-ops", false), ("ops team", false), ("$", false), ("ops$x", false), ("öps", false),
    ])
    func socketGroupNames(_ group: String, _ valid: Bool) {
        let error = ConfigurationFixtures.error("[orderd]\nsocket_group = \"\(group)\"\n" + Self.service)
        if valid {
            #expect(error == nil)
        } else {
            #expect(error?.key == "orderd.socket_group")
        }
    }

    @Test(arguments: [
        ("a", true), ("A_b-9", true), (String(repeating: "s", count: 64), true),
        (String(repeating: "s", count: 65), false), ("a.b", false), ("\\u00e9", false), ("", false),
    ])
    func serviceNames(_ name: String, _ valid: Bool) {
        let error = ConfigurationFixtures.error("[services.\"\(name)\"]\nmetrics_port = 9301\n")
        if valid {
            #expect(error == nil)
        } else {
            #expect(error?.message.hasPrefix("a service name is") == true)
        }
    }

    @Test(arguments: [("PATH", true), ("_x1", true), ("x.y", false), ("9X", false), ("\\u00c4", false), ("", false)])
    func environmentVariableNames(_ name: String, _ valid: Bool) {
        let error = ConfigurationFixtures.error(
            "[services.a]\nmetrics_port = 9301\n[services.a.environment]\n\"\(name)\" = \"v\"\n"
        )
        if valid {
            #expect(error == nil)
        } else {
            #expect(error?.message.contains("not a valid environment variable name") == true)
        }
    }
}
