import Foundation
import Testing
@testable import Supervisor

@Suite("Start order")
struct ServiceOrderTests {
    func order(_ text: String) throws -> [String] {
        try ConfigurationFixtures.parse(text).services.map(\.name)
    }

    @Test func independentServicesStartByPriorityThenByNameWhateverTheFileOrder() throws {
        #expect(
            try order(
                """
                [services.zeta]
                metrics_port = 9301
                [services.alpha]
                metrics_port = 9302
                priority = 1
                [services.mid]
                metrics_port = 9303
                [services.first]
                metrics_port = 9304
                priority = -1
                """
            ) == ["first", "mid", "zeta", "alpha"]
        )
    }

    @Test func dependenciesComeFirstTiesByPriorityThenName() throws {
        #expect(
            try order(
                """
                [services.web]
                metrics_port = 9301
                after = ["db", "cache"]
                [services.cache]
                metrics_port = 9302
                after = ["db"]
                [services.worker]
                metrics_port = 9303
                [services.db]
                metrics_port = 9304
                priority = 5
                [services.report]
                metrics_port = 9305
                after = ["web"]
                """
            ) == ["worker", "db", "cache", "web", "report"]
        )
    }

    @Test func priorityDoesNotOverrideAfter() throws {
        #expect(
            try order(
                """
                [services.early]
                metrics_port = 9301
                priority = -10
                after = ["late"]
                [services.late]
                metrics_port = 9302
                priority = 10
                """
            ) == ["late", "early"]
        )
    }

    @Test func tablesAnyWhereInTheFileAndInlineTablesAreServices() throws {
        #expect(
            try order(
                """
                [services.c.environment]
                X = "1"
                [services.c]
                metrics_port = 9301

                [orderd]
                log_level = "info"

                [services]
                b.metrics_port = 9302
                a = { metrics_port = 9303 }
                """
            ) == ["a", "b", "c"]
        )
    }
}

@Suite("Socket path and locating the file")
struct SocketAndLocateTests {
    func socketPath(_ environment: [String: String], file: String = "") throws -> String {
        try ConfigurationFixtures.parse(file + "[services.a]\nmetrics_port = 9301\n", environment: environment).daemon
            .socketPath
    }

    @Test func socketPathDefaultsFromTheEnvironment() throws {
        #expect(
            try socketPath(["RUNTIME_DIRECTORY": "/run/orderd", "XDG_RUNTIME_DIR": "/run/user/1000"])
                == "/run/orderd/orderd.sock"
        )
        #expect(try socketPath(["RUNTIME_DIRECTORY": "/run/orderd:/run/other"]) == "/run/orderd/orderd.sock")
        #expect(try socketPath(["XDG_RUNTIME_DIR": "/run/user/1000"]) == "/run/user/1000/orderd/orderd.sock")
        #expect(try socketPath(["XDG_RUNTIME_DIR": ""]) == "/tmp/orderd-\(getuid())/orderd.sock")
        #expect(try socketPath([:]) == "/tmp/orderd-\(getuid())/orderd.sock")
        #expect(ConfigurationDefaults.socketPath(environment: [:], uid: 42) == "/tmp/orderd-42/orderd.sock")
    }

    @Test func configuredSocketPathWins() throws {
        #expect(
            try socketPath(["RUNTIME_DIRECTORY": "/run/orderd"], file: "[orderd]\nsocket_path = \"/srv/o.sock\"\n")
                == "/srv/o.sock"
        )
    }

    @Test func locateSearchOrder() {
        let everything: (String) -> Bool = { _ in true }
        let nothing: (String) -> Bool = { _ in false }
        #expect(
            SupervisorConfiguration.locate(
                explicit: "/x/orderd.toml",
                environment: ["ORDERD_CONFIG": "/env.toml"],
                fileExists: nothing
            ) == "/x/orderd.toml"
        )
        #expect(
            SupervisorConfiguration.locate(
                explicit: nil,
                environment: ["ORDERD_CONFIG": "/env.toml"],
                fileExists: everything
            ) == "/env.toml"
        )
        #expect(
            SupervisorConfiguration.locate(explicit: nil, environment: [:], fileExists: everything)
                == "./etc/orderd.toml"
        )
        #expect(
            SupervisorConfiguration.locate(
                explicit: nil,
                environment: [:],
                fileExists: { $0 == "/etc/orderd/orderd.toml" }
            ) == "/etc/orderd/orderd.toml"
        )
        #expect(SupervisorConfiguration.locate(explicit: nil, environment: [:], fileExists: nothing) == nil)
        #expect(
            SupervisorConfiguration.locate(explicit: "", environment: [:], fileExists: everything)
                == "./etc/orderd.toml"
        )
    }
}

@Suite("Rendering")
struct RenderingTests {
    static let rich = """
        [orderd]
        socket_group = "orderd"
        stop_timeout = "2m"
        metrics_host = "127.0.0.1"
        scrape_timeout = "1500ms"
        log_level = "notice"

        [kafka]
        brokers = "b1:9092,b2:9092"
        embedded_partitions = 1

        [kafka.properties]
        "security.protocol" = "SASL_SSL"
        linger.ms = 5

        [defaults]
        restart = "always"
        backoff_initial = "250ms"

        [services.front]
        metrics_port = 9301
        after = ["back"]
        arguments = ["--quote=\\"x\\"", "tab\\there", "ünïcode", "del\\u007Fbell\\u0007"]
        working_directory = "/srv/front dir"
        [services.front.environment]
        PORT = 4000
        GREETING = "multi\\nline \\\\ backslash"

        [services.back]
        executable = "/usr/bin/back"
        metrics_port = 9302
        priority = 3
        stop_timeout = "1m30s"
        [services.back.probes]
        interval = "250us"
        """

    @Test(arguments: [
        ["RUNTIME_DIRECTORY": "/run/orderd"],
        ["XDG_RUNTIME_DIR": "/run/user/7", "KAFKA_BROKERS": "env:9092"],
        [:],
    ])
    func roundTripsToAnEqualConfiguration(environment: [String: String]) throws {
        for text in [Self.rich, try String(contentsOfFile: ConfigurationFixtures.shippedConfig, encoding: .utf8)] {
            let original = try ConfigurationFixtures.parse(
                text,
                source: "/etc/orderd/orderd.toml",
                environment: environment
            )
            let rendered = original.rendered()
            let reparsed = try ConfigurationFixtures.parse(
                rendered,
                source: "/etc/orderd/orderd.toml",
                environment: environment
            )
            #expect(reparsed == original, "\(rendered)")
            // Rendering is a fixed point, and does not depend on the environment any more.
            #expect(reparsed.rendered() == rendered)
            let elsewhere = try ConfigurationFixtures.parse(
                rendered,
                source: "/etc/orderd/orderd.toml",
                environment: ["RUNTIME_DIRECTORY": "/elsewhere", "ORDERD_BIN_DIR": "/elsewhere/bin"],
                executableDirectory: "/elsewhere/bin"
            )
            #expect(elsewhere.daemon == original.daemon)
            #expect(elsewhere.services == original.services)
        }
    }

    @Test func showsEveryDefault() throws {
        let rendered = try ConfigurationFixtures.parse("[services.a]\nmetrics_port = 9301\n").rendered()
        for line in [
            "socket_path = \"/run/orderd/orderd.sock\"", "metrics_host = \"0.0.0.0\"", "metrics_port = 9200",
            "scrape_timeout = \"2s\"", "stop_timeout = \"30s\"", "data_directory = \"./data\"",
            "binary_directory = \"/opt/orderd/bin\"", "log_level = \"info\"", "embedded_partitions = 3",
            "[services.a]", "executable = \"/opt/orderd/bin/a\"", "arguments = []", "working_directory = \".\"",
            "metrics_port = 9301", "after = []", "priority = 0", "restart = \"on-failure\"",
            "backoff_initial = \"100ms\"",
            "backoff_max = \"30s\"", "backoff_reset_after = \"1m\"", "start_limit_burst = 5",
            "start_limit_interval = \"1m\"", "stop_timeout = \"10s\"", "[services.a.probes]",
            "startup_budget = \"30s\"", "interval = \"2s\"", "timeout = \"1s\"",
            "liveness_failure_threshold = 3", "readiness_failure_threshold = 1",
        ] {
            #expect(rendered.contains(line + "\n"), "missing \(line)")
        }
        #expect(rendered.contains("embedded broker"))
        #expect(rendered.contains("0600"))
    }

    @Test func neverShowsASecret() throws {
        let secrets = [
            "sasl.password": "hunter2-password",
            "sasl.jaas.config":
                "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"jaas-secret\";",
            "ssl.key.pem": "-----BEGIN PRIVATE KEY-----pem-material",
            "ssl.key.password": "key-password-value",
            "sasl.oauthbearer.client.secret": "oauth-client-secret",
            "sasl.oauthbearer.token.endpoint.url": "https://token.example/secret-url",
            "SSL.KEYSTORE.PASSWORD": "upper-case-keystore",
        ]
        var text = "[kafka.properties]\n\"sasl.username\" = \"orders-user\"\n"
        for (name, value) in secrets { text += "\(RenderingTests.quote(name)) = \(RenderingTests.quote(value))\n" }
        text += """
            [services.a]
            metrics_port = 9301
            [services.a.environment]
            DB_PASSWORD = "env-db-password"
            API_TOKEN = "env-api-token"
            KAFKA_SASL_PASSWORD = "env-kafka-password"
            PLAIN = "visible-value"
            """
        let configuration = try ConfigurationFixtures.parse(text)
        #expect(configuration.kafka.properties["sasl.password"] == "hunter2-password")  // kept for the services
        let rendered = configuration.rendered()
        for value in Array(secrets.values) + ["env-db-password", "env-api-token", "env-kafka-password", "jaas-secret"] {
            #expect(!rendered.contains(value), "\(value) leaked")
        }
        #expect(rendered.contains("orders-user"))
        #expect(rendered.contains("visible-value"))
        #expect(rendered.components(separatedBy: "= \"[redacted]\"").count - 1 == secrets.count + 3)
        // The redacted rendering still parses, to the same configuration apart from the secrets.
        var expected = configuration
        for name in secrets.keys { expected.kafka.properties[name] = "[redacted]" }
        for name in ["DB_PASSWORD", "API_TOKEN", "KAFKA_SASL_PASSWORD"] {
            expected.services[0].environment[name] = "[redacted]"
        }
        #expect(try ConfigurationFixtures.parse(rendered) == expected)
    }

    @Test(arguments: [
        "sasl.password", "ssl.key.location", "sasl.jaas.config", "ssl.certificate.pem",
        "sasl.oauthbearer.token.endpoint.url", "MY_SECRET", "Api_Key",
    ])
    func secretNames(_ name: String) {
        #expect(KafkaSettings.isSecret(name))
    }

    @Test(arguments: ["security.protocol", "sasl.username", "linger.ms", "PORT", "LOG_LEVEL"])
    func ordinaryNames(_ name: String) {
        #expect(!KafkaSettings.isSecret(name))
    }

    static func quote(_ text: String) -> String { SupervisorConfiguration.quote(text) }
}
