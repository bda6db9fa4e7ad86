import Foundation
import Storage
import Testing

@testable import Supervisor

@Suite("Configuration: [database] and several instances of a service")
struct InstancesAndDatabaseTests {
    static let database = "[database]\nurl = \"postgres://orders:s3cret@db.internal:5432/orders?sslmode=require\"\n"

    @Test(
        "instances = 2: two processes named <service>.<n>, consecutive metrics ports, ${INSTANCE} replaced, after waits for both"
    )
    func instancesExpand() throws {
        let configuration = try ConfigurationFixtures.parse(
            Self.database + """
                [services.api]
                metrics_port = 9300
                after = ["worker"]
                [services.worker]
                metrics_port = 9310
                instances = 2
                [services.worker.environment]
                PORT = "400${INSTANCE}"
                """
        )
        #expect(configuration.services.map(\.name) == ["worker.1", "worker.2", "api"])
        let workers = configuration.instances(of: "worker")
        #expect(workers.map(\.service) == ["worker", "worker"])
        #expect(workers.map(\.instance) == [1, 2])
        #expect(workers.map(\.metricsPort) == [9310, 9311])
        #expect(workers.map { $0.environment["PORT"] } == ["4001", "4002"])
        #expect(configuration.service(named: "api")?.after == ["worker.1", "worker.2"])
        #expect(configuration.instances(of: "api").map(\.instance) == [nil])
    }

    @Test(
        "each instance gets SERVICE_NAME of its service, SERVICE_INSTANCE, its port and the DATABASE_URL with its password"
    )
    func instanceEnvironment() throws {
        let configuration = try ConfigurationFixtures.parse(
            Self.database + "[services.worker]\nmetrics_port = 9310\ninstances = 2\n"
        )
        let second = try #require(configuration.service(named: "worker.2"))
        let environment = Supervisor.childEnvironment(
            second,
            configuration: configuration,
            brokers: "k:9092",
            embeddedBroker: false
        )
        #expect(environment["SERVICE_NAME"] == "worker")
        #expect(environment["SERVICE_INSTANCE"] == "2")
        #expect(environment["METRICS_PORT"] == "9311")
        #expect(environment["DATA_DIR"]?.hasSuffix("/worker") == true)
        let url = try DatabaseURL(try #require(environment["DATABASE_URL"]))
        #expect(url.password == "s3cret" && url.host == "db.internal" && url.tls == .require)
    }

    @Test("several instances without a shared database are refused, naming the key and why")
    func instancesNeedADatabase() throws {
        let error = try #require(
            ConfigurationFixtures.error("[services.worker]\nmetrics_port = 9310\ninstances = 3\n")
        )
        #expect(error.key == "services.worker.instances")
        #expect(error.message.contains("[database] url"), "\(error)")
    }

    @Test("an instance's port taken by another service is an error naming both")
    func instancePortsCollide() throws {
        let error = try #require(
            ConfigurationFixtures.error(
                Self.database + "[services.a]\nmetrics_port = 9310\ninstances = 2\n[services.b]\nmetrics_port = 9311\n"
            )
        )
        #expect(error.key.hasPrefix("services."), "\(error)")
        #expect(error.message.contains("9311"), "\(error)")
    }

    @Test("DATABASE_URL in orderd's environment is the default; a malformed one names the key and never the password")
    func databaseFromEnvironment() throws {
        var environment = ConfigurationFixtures.environment
        environment["DATABASE_URL"] = "postgres://app:hunter2@127.0.0.1:5433/orders"
        let configuration = try ConfigurationFixtures.parse(
            "[services.a]\nmetrics_port = 9310\n",
            environment: environment
        )
        #expect(configuration.database.url?.port == 5433)
        environment["DATABASE_URL"] = "mysql://app:hunter2@127.0.0.1/orders"
        let error = try #require(
            ConfigurationFixtures.error("[services.a]\nmetrics_port = 9310\n", environment: environment)
        )
        #expect(error.key == "database.url")
        #expect(!error.description.contains("hunter2"), "\(error)")
        let fileError = try #require(
            ConfigurationFixtures.error(
                "[database]\nurl = \"postgres://app:hunter2@/orders\"\n[services.a]\nmetrics_port = 9310\n"
            )
        )
        #expect(fileError.key == "database.url")
        #expect(!fileError.description.contains("hunter2"), "\(fileError)")
    }

    @Test("check-config shows the database and any DATABASE_URL in a service's environment without the password")
    func renderingHidesThePassword() throws {
        let configuration = try ConfigurationFixtures.parse(
            Self.database + """
                [services.worker]
                metrics_port = 9310
                instances = 2
                [services.other]
                metrics_port = 9320
                [services.other.environment]
                DATABASE_URL = "postgres://other:t0psecret@elsewhere/db"
                """
        )
        let text = configuration.rendered()
        #expect(!text.contains("s3cret") && !text.contains("t0psecret"), "\(text)")
        #expect(text.contains("url = \"postgres://orders:***@db.internal:5432/orders?sslmode=require\""), "\(text)")
        #expect(text.contains("instances = 2"))
        #expect(text.contains("worker.2 (metrics port 9311)"))
        #expect(text.components(separatedBy: "[services.worker]").count == 2, "one table for the service")
    }

    @Test("check-config's output of a multi-instance service parses back to the same instances")
    func renderingRoundTrips() throws {
        let original = try ConfigurationFixtures.parse(
            Self.database
                + "[services.api]\nmetrics_port = 9300\ninstances = 3\n[services.api.environment]\nPORT = \"400${INSTANCE}\"\n"
        )
        let text = original.rendered()
        #expect(text.contains("PORT = \"400${INSTANCE}\""), "\(text)")
        // The rendered URL hides the password; give it back through the environment.
        var environment = ConfigurationFixtures.environment
        environment["DATABASE_URL"] = original.database.url?.connectionString
        let reparsed = try ConfigurationFixtures.parse(
            text.replacingOccurrences(
                of: #"url = "postgres://orders:***@db.internal:5432/orders?sslmode=require"  # password not shown"#,
                with: ""
            ),
            environment: environment
        )
        #expect(reparsed.services == original.services)
    }
}
