import Foundation
import Testing
@testable import Supervisor

@Suite("etc/orderd.toml")
struct ShippedConfigurationTests {
    let path = ConfigurationFixtures.shippedConfig

    func load(environment: [String: String] = ConfigurationFixtures.environment) throws -> SupervisorConfiguration {
        try SupervisorConfiguration.load(
            path: path,
            environment: environment,
            executableDirectory: ConfigurationFixtures.binaryDirectory
        )
    }

    @Test func loadsTheFourServicesWithTheOriginalPorts() throws {
        let configuration = try load()
        #expect(configuration.source == path)
        #expect(configuration.services.count == 4)
        let ports = Dictionary(uniqueKeysWithValues: configuration.services.map { ($0.name, $0.metricsPort) })
        #expect(
            ports == [
                "order-service": 9100, "payment-service": 9101, "inventory-service": 9102, "notification-service": 9103,
            ]
        )
        let order = try #require(configuration.service(named: "order-service"))
        #expect(order.environment["PORT"] == "4000")
        #expect(order.executable == "/opt/orderd/bin/order-service")
        // Every service starts at once, so the consumer groups join in parallel.
        #expect(order.after.isEmpty)
    }

    @Test func orderServiceStartsLastSoItStopsFirst() throws {
        let configuration = try load()
        #expect(
            configuration.services.map(\.name) == [
                "inventory-service", "notification-service", "payment-service", "order-service",
            ]
        )
        #expect(configuration.service(named: "order-service")?.priority == 1)
    }

    @Test func usesTheDefaults() throws {
        let configuration = try load()
        #expect(configuration.daemon.socketPath == "/run/orderd/orderd.sock")
        #expect(configuration.daemon.socketGroup == nil)
        #expect(configuration.daemon.metricsPort == 9200)
        #expect(configuration.daemon.stopTimeout == .seconds(30))
        #expect(configuration.kafka.brokers == nil)
        #expect(configuration.kafka.properties.isEmpty)
        for service in configuration.services {
            #expect(service.supervisionPolicy == SupervisionPolicy())
            #expect(service.workingDirectory == ".")
            #expect(service.arguments.isEmpty)
        }
    }

    @Test func brokersComeFromTheEnvironmentWhenTheFileHasNone() throws {
        var environment = ConfigurationFixtures.environment
        environment["KAFKA_BROKERS"] = "b1:9092,b2:9092"
        #expect(try load(environment: environment).kafka.brokers == "b1:9092,b2:9092")
    }

    /// Uncommenting the documented defaults in etc/orderd.toml must change nothing, so the
    /// comments never drift from the real defaults.
    @Test func documentedDefaultsAreTheRealDefaults() throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let examples: Set<String> = ["socket_path", "socket_group", "binary_directory", "brokers"]
        let documentedSections: Set<String> = ["[orderd]", "[kafka]", "[defaults]", "[defaults.probes]"]
        var section = ""
        var uncommented: [String] = []
        var count = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("[") { section = line }
            if documentedSections.contains(section), line.hasPrefix("# "),
                let equals = line.range(of: " = "),
                case let key = String(line[line.index(line.startIndex, offsetBy: 2)..<equals.lowerBound]),
                key.allSatisfy({ $0.isLetter || $0 == "_" }), !examples.contains(key)
            {
                uncommented.append(String(line.dropFirst(2)))
                count += 1
            } else {
                uncommented.append(line)
            }
        }
        #expect(count == 19)  // 6 [orderd] + 1 [kafka] + 7 [defaults] + 5 [defaults.probes]
        let documented = try ConfigurationFixtures.parse(uncommented.joined(separator: "\n"), source: path)
        #expect(documented == (try load()))
    }
}

/// The configuration baked into the container image, read with orderd's own parser (what
/// scripts/check-deploy-files used to re-check in Python).
@Suite("docker/orderd.toml")
struct DockerConfigurationTests {
    let path = ConfigurationFixtures.packageRoot + "/docker/orderd.toml"

    func load() throws -> SupervisorConfiguration {
        // No RUNTIME_DIRECTORY or ORDERD_BIN_DIR: the file itself must say where things are.
        try SupervisorConfiguration.load(path: path, environment: [:], executableDirectory: "/elsewhere")
    }

    @Test func daemonListensForOtherContainersAndKeepsItsFilesInTheImage() throws {
        let daemon = try load().daemon
        #expect(daemon.socketPath == "/run/orderd/orderd.sock")
        #expect(daemon.metricsHost == "0.0.0.0")
        #expect(daemon.metricsPort == 9200)
        #expect(daemon.dataDirectory.hasPrefix("/var/lib/orderd"))
        #expect(daemon.binaryDirectory == "/usr/local/bin")
        #expect(daemon.stopTimeout <= .seconds(45), "compose's stop_grace_period is 45s")
    }

    @Test func theFourServicesBindTheirMetricsOnEveryInterface() throws {
        let configuration = try load()
        #expect(
            configuration.services.map(\.name) == [
                "inventory-service", "notification-service", "payment-service", "order-service",
            ]
        )
        for service in configuration.services {
            #expect(service.executable == "/usr/local/bin/\(service.name)")
            #expect(service.environment["METRICS_HOST"] == "0.0.0.0", "\(service.name)")
            #expect(service.after.isEmpty)
        }
        let order = try #require(configuration.service(named: "order-service"))
        #expect(order.environment["PORT"] == "4000")
        #expect(order.environment["HOST"] == "0.0.0.0")
    }

    @Test func brokersComeFromComposeNotTheFile() throws {
        #expect(try load().kafka.brokers == nil)
        let compose = try SupervisorConfiguration.load(
            path: path,
            environment: ["KAFKA_BROKERS": "kafka:29092"],
            executableDirectory: "/elsewhere"
        )
        #expect(compose.kafka.brokers == "kafka:29092")
    }
}
