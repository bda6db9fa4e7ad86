import Foundation
@testable import Supervisor

/// Helpers shared by the configuration tests.
enum ConfigurationFixtures {
    /// The package root, found from this file's location.
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }  // Configuration, SupervisorTests, Tests, file
        return url.path
    }()

    static let shippedConfig = packageRoot + "/etc/orderd.toml"

    static let binaryDirectory = "/opt/orderd/bin"

    /// An environment with nothing that changes defaults except a fixed runtime directory.
    static let environment = ["RUNTIME_DIRECTORY": "/run/orderd"]

    static func parse(
        _ text: String,
        source: String = "test.toml",
        environment: [String: String] = ConfigurationFixtures.environment,
        executableDirectory: String = ConfigurationFixtures.binaryDirectory
    ) throws(ConfigurationError) -> SupervisorConfiguration {
        try SupervisorConfiguration.parse(
            text,
            source: source,
            environment: environment,
            executableDirectory: executableDirectory
        )
    }

    /// The error parsing `text` throws, or nil when it parses.
    static func error(
        _ text: String,
        source: String = "test.toml",
        environment: [String: String] = ConfigurationFixtures.environment
    ) -> ConfigurationError? {
        do {
            _ = try parse(text, source: source, environment: environment)
            return nil
        } catch {
            return error
        }
    }
}
