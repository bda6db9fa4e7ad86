import Foundation
import Logging
import Testing
@testable import Supervisor

@Suite("Configuration parsing")
struct ConfigurationParsingTests {
    @Test func fillsEveryDefault() throws {
        let configuration = try ConfigurationFixtures.parse(
            """
            [services.api]
            metrics_port = 9300
            """
        )
        #expect(configuration.source == "test.toml")
        #expect(
            configuration.daemon
                == DaemonSettings(
                    socketPath: "/run/orderd/orderd.sock",
                    socketGroup: nil,
                    metricsHost: "0.0.0.0",
                    metricsPort: 9200,
                    scrapeTimeout: .seconds(2),
                    stopTimeout: .seconds(30),
                    dataDirectory: "./data",
                    binaryDirectory: "/opt/orderd/bin",
                    logLevel: .info
                )
        )
        #expect(configuration.kafka == KafkaSettings(brokers: nil, embeddedPartitions: 3, properties: [:]))
        #expect(
            configuration.services == [
                ServiceSpec(
                    name: "api",
                    service: "api",
                    executable: "/opt/orderd/bin/api",
                    arguments: [],
                    workingDirectory: ".",
                    environment: [:],
                    metricsPort: 9300,
                    after: [],
                    priority: 0,
                    supervisionPolicy: SupervisionPolicy(
                        restart: .onFailure,
                        backoffInitial: .milliseconds(100),
                        backoffMaximum: .seconds(30),
                        backoffResetAfter: .seconds(60),
                        startLimitBurst: 5,
                        startLimitInterval: .seconds(60),
                        stopTimeout: .seconds(10),
                        startupBudget: .seconds(30),
                        probeInterval: .seconds(2),
                        probeTimeout: .seconds(1),
                        livenessFailureThreshold: 3,
                        readinessFailureThreshold: 1
                    )
                )
            ]
        )
    }

    @Test func readsEverySetting() throws {
        let configuration = try ConfigurationFixtures.parse(
            """
            [orderd]
            socket_path = "/run/custom/orderd.sock"
            socket_group = "orderd-ops"
            metrics_host = "127.0.0.1"
            metrics_port = 9300
            scrape_timeout = "500ms"
            stop_timeout = "1m"
            data_directory = "/srv/orderd/data"
            binary_directory = "/usr/lib/orderd"
            log_level = "debug"

            [kafka]
            brokers = ["b1:9092", " b2:9092 "]
            embedded_partitions = 6

            [kafka.properties]
            "security.protocol" = "SASL_SSL"
            linger.ms = 10
            "enable.idempotence" = true

            [services.worker]
            executable = "/usr/bin/worker"
            arguments = ["--fast", "two words"]
            working_directory = "/srv/worker"
            metrics_port = 9400
            priority = -2
            restart = "always"
            backoff_initial = "1s"
            backoff_max = "1m"
            backoff_reset_after = "5m"
            start_limit_burst = 10
            start_limit_interval = 120
            stop_timeout = "20s"

            [services.worker.environment]
            LOG_LEVEL = "debug"
            WORKERS = 4
            VERBOSE = false

            [services.worker.probes]
            startup_budget = "1m30s"
            interval = "1.5s"
            timeout = "750ms"
            liveness_failure_threshold = 5
            readiness_failure_threshold = 2
            """
        )
        let daemon = configuration.daemon
        #expect(daemon.socketPath == "/run/custom/orderd.sock")
        #expect(daemon.socketGroup == "orderd-ops")
        #expect(daemon.metricsHost == "127.0.0.1")
        #expect(daemon.metricsPort == 9300)
        #expect(daemon.scrapeTimeout == .milliseconds(500))
        #expect(daemon.stopTimeout == .seconds(60))
        #expect(daemon.dataDirectory == "/srv/orderd/data")
        #expect(daemon.binaryDirectory == "/usr/lib/orderd")
        #expect(daemon.logLevel == .debug)
        #expect(configuration.kafka.brokers == "b1:9092,b2:9092")
        #expect(configuration.kafka.embeddedPartitions == 6)
        #expect(
            configuration.kafka.properties == [
                "security.protocol": "SASL_SSL", "linger.ms": "10", "enable.idempotence": "true",
            ]
        )
        #expect(
            configuration.kafka.environment == [
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_LINGER_MS": "10", "KAFKA_ENABLE_IDEMPOTENCE": "true",
            ]
        )
        let worker = try #require(configuration.services.first)
        #expect(worker.executable == "/usr/bin/worker")
        #expect(worker.arguments == ["--fast", "two words"])
        #expect(worker.workingDirectory == "/srv/worker")
        #expect(worker.environment == ["LOG_LEVEL": "debug", "WORKERS": "4", "VERBOSE": "false"])
        #expect(worker.priority == -2)
        let policy = worker.supervisionPolicy
        #expect(policy.restart == .always)
        #expect(policy.backoffInitial == .seconds(1))
        #expect(policy.backoffMaximum == .seconds(60))
        #expect(policy.backoffResetAfter == .seconds(300))
        #expect(policy.startLimitBurst == 10)
        #expect(policy.startLimitInterval == .seconds(120))
        #expect(policy.stopTimeout == .seconds(20))
        #expect(policy.startupBudget == .seconds(90))
        #expect(policy.livenessFailureThreshold == 5)
        #expect(policy.readinessFailureThreshold == 2)
        #expect(policy.probeInterval == .milliseconds(1500))
        #expect(policy.probeTimeout == .milliseconds(750))
        #expect(worker.probeInterval == .milliseconds(1500))
        #expect(worker.probeTimeout == .milliseconds(750))
    }

    @Test func defaultsTableAppliesAndServicesOverrideKeyByKey() throws {
        let configuration = try ConfigurationFixtures.parse(
            """
            [defaults]
            restart = "always"
            backoff_initial = "200ms"
            backoff_max = "10s"
            start_limit_burst = 3
            stop_timeout = "15s"

            [defaults.probes]
            interval = "5s"
            liveness_failure_threshold = 4

            [services.plain]
            metrics_port = 9301

            [services.custom]
            metrics_port = 9302
            restart = "never"
            backoff_max = "20s"
            stop_timeout = 5

            [services.custom.probes]
            timeout = "2s"
            """
        )
        let defaults = SupervisionPolicy(
            restart: .always,
            backoffInitial: .milliseconds(200),
            backoffMaximum: .seconds(10),
            startLimitBurst: 3,
            stopTimeout: .seconds(15),
            probeInterval: .seconds(5),
            livenessFailureThreshold: 4
        )
        #expect(try #require(configuration.service(named: "plain")).supervisionPolicy == defaults)
        var custom = defaults
        custom.restart = .never
        custom.backoffMaximum = .seconds(20)
        custom.stopTimeout = .seconds(5)
        custom.probeTimeout = .seconds(2)
        #expect(try #require(configuration.service(named: "custom")).supervisionPolicy == custom)
    }

    @Test func executablesResolveAgainstTheBinaryDirectory() throws {
        let text = """
            [services.a]
            metrics_port = 9301
            [services.b]
            executable = "tools/../bin/b-server"
            metrics_port = 9302
            [services.c]
            executable = "/usr/bin/c"
            metrics_port = 9303
            """
        func executables(_ environment: [String: String], extra: String = "") throws -> [String] {
            try ConfigurationFixtures.parse(extra + text, environment: environment).services.map(\.executable)
        }
        // Parameter (the running orderd's directory) by default.
        #expect(try executables([:]) == ["/opt/orderd/bin/a", "/opt/orderd/bin/bin/b-server", "/usr/bin/c"])
        // $ORDERD_BIN_DIR overrides it.
        #expect(
            try executables(["ORDERD_BIN_DIR": "/build/debug/"]) == [
                "/build/debug/a", "/build/debug/bin/b-server", "/usr/bin/c",
            ]
        )
        // orderd.binary_directory overrides both.
        #expect(
            try executables(
                ["ORDERD_BIN_DIR": "/build/debug"],
                extra: "[orderd]\nbinary_directory = \"/usr/lib/orderd\"\n"
            )
                == ["/usr/lib/orderd/a", "/usr/lib/orderd/bin/b-server", "/usr/bin/c"]
        )
        // A relative binary directory is taken from orderd's working directory.
        let cwd = FileManager.default.currentDirectoryPath
        #expect(
            try executables(["ORDERD_BIN_DIR": ".build/debug"]).first == ConfigurationPath.join(cwd, ".build/debug/a")
        )
    }

    @Test func runningExecutableDirectoryIsAbsolute() {
        let directory = ConfigurationDefaults.runningExecutableDirectory()
        #expect(directory.hasPrefix("/"))
        #expect(FileManager.default.fileExists(atPath: directory))
    }

    @Test func brokersPrecedence() throws {
        let service = "\n[services.a]\nmetrics_port = 9301\n"
        #expect(try ConfigurationFixtures.parse(service, environment: [:]).kafka.brokers == nil)
        #expect(
            try ConfigurationFixtures.parse(service, environment: ["KAFKA_BROKERS": " env:9092 "]).kafka.brokers
                == "env:9092"
        )
        #expect(try ConfigurationFixtures.parse(service, environment: ["KAFKA_BROKERS": ""]).kafka.brokers == nil)
        #expect(
            try ConfigurationFixtures.parse(
                "[kafka]\nbrokers = \"file:9092\"\n" + service,
                environment: ["KAFKA_BROKERS": "env:9092"]
            )
            .kafka.brokers == "file:9092"
        )
    }

    @Test func metricsPortInTheEnvironmentMayRepeatIt() throws {
        let configuration = try ConfigurationFixtures.parse(
            """
            [services.a]
            metrics_port = 9301
            environment = { METRICS_PORT = 9301 }
            """
        )
        #expect(configuration.services[0].environment["METRICS_PORT"] == "9301")
    }

    @Test func loadReportsAMissingFile() {
        let path = "/nonexistent/orderd-\(UUID().uuidString).toml"
        #expect(throws: ConfigurationError.self) {
            try SupervisorConfiguration.load(path: path, environment: [:])
        }
        do {
            _ = try SupervisorConfiguration.load(path: path, environment: [:])
        } catch {
            #expect(error.file == path)
            #expect(error.key == "")
            #expect(error.description.hasPrefix("\(path): cannot read the configuration file"))
        }
    }
}

@Suite("Durations")
struct DurationTextTests {
    @Test(arguments: [
        ("100ms", Duration.milliseconds(100)), ("2s", .seconds(2)), ("1m", .seconds(60)), ("1h", .seconds(3600)),
        ("1m30s", .seconds(90)), ("1.5s", .milliseconds(1500)), ("250us", .microseconds(250)),
        ("10ns", .nanoseconds(10)),
        (" 3s ", .seconds(3)), ("0.5h", .seconds(1800)),
    ])
    func parses(_ text: String, _ expected: Duration) {
        #expect(DurationText.parse(text) == expected)
    }

    @Test(arguments: ["", "5", "s", "-1s", "+1s", "1.s", "1 s", "1d", "fast", "1sm", "99999999999h"])
    func rejects(_ text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test(arguments: [
        (Duration.milliseconds(100), "100ms"), (.seconds(2), "2s"), (.seconds(60), "1m"), (.seconds(90), "90s"),
        (.seconds(7200), "2h"), (.milliseconds(1500), "1500ms"), (.microseconds(3), "3us"), (.nanoseconds(7), "7ns"),
    ])
    func formats(_ duration: Duration, _ expected: String) {
        #expect(DurationText.format(duration) == expected)
        #expect(DurationText.parse(expected) == duration)
    }
}
