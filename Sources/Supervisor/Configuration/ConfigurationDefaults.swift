import Foundation
import Logging

/// Every default of orderd's configuration, in one place. The parser, `rendered()`, the
/// comments of `etc/orderd.toml` and the tests all follow these values.
public enum ConfigurationDefaults {
    // MARK: [orderd]

    /// The control socket's file name inside the runtime directory.
    public static let socketFileName = "orderd.sock"
    public static let metricsHost = "0.0.0.0"
    public static let metricsPort = 9200
    public static let scrapeTimeout: Duration = .seconds(2)
    /// The total budget for stopping every service on shutdown.
    public static let stopTimeout: Duration = .seconds(30)
    public static let dataDirectory = "./data"
    public static let logLevel: Logger.Level = .info
    /// Environment variable that overrides the directory relative executables are found in.
    public static let binaryDirectoryVariable = "ORDERD_BIN_DIR"

    // MARK: [kafka]

    /// Environment variable naming the brokers when `kafka.brokers` is not set.
    public static let brokersVariable = "KAFKA_BROKERS"
    public static let embeddedPartitions = 3

    // MARK: [defaults] / [services.<name>]

    public static let workingDirectory = "."
    public static let restart: RestartPolicy = .onFailure
    public static let backoff = BackoffPolicy(
        initial: .milliseconds(100), maximum: .seconds(30), resetAfter: .seconds(60)
    )
    public static let startLimit = StartLimit(burst: 5, interval: .seconds(60))
    /// How long one service gets between SIGTERM and SIGKILL.
    public static let serviceStopTimeout: Duration = .seconds(10)
    public static let probes = ProbeSettings(
        startupBudget: .seconds(30), interval: .seconds(2), timeout: .seconds(1),
        livenessFailureThreshold: 3, readinessFailureThreshold: 1
    )

    // MARK: Locating the file

    /// Environment variable naming the configuration file when `--config` is not given.
    public static let configVariable = "ORDERD_CONFIG"
    /// Searched in order after `--config` and `$ORDERD_CONFIG`.
    public static let searchPaths = ["./etc/orderd.toml", "/etc/orderd/orderd.toml"]

    /// The default control socket path:
    /// `$RUNTIME_DIRECTORY/orderd.sock` (systemd's `RuntimeDirectory=`; the first entry when
    /// several are listed), else `$XDG_RUNTIME_DIR/orderd/orderd.sock`, else
    /// `/tmp/orderd-<uid>/orderd.sock`.
    public static func socketPath(environment: [String: String], uid: UInt32 = getuid()) -> String {
        if let runtime = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first, !runtime.isEmpty {
            return ConfigurationPath.join(String(runtime), socketFileName)
        }
        if let xdg = environment["XDG_RUNTIME_DIR"], !xdg.isEmpty {
            return ConfigurationPath.join(ConfigurationPath.join(xdg, "orderd"), socketFileName)
        }
        return "/tmp/orderd-\(uid)/\(socketFileName)"
    }

    /// The directory of the running executable (symbolic links resolved), where orderd looks
    /// for the service executables by default.
    public static func runningExecutableDirectory() -> String {
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"),
           target.hasPrefix("/") {
            return ConfigurationPath.directory(of: target)
        }
        let argument0 = CommandLine.arguments.first ?? "."
        let absolute = ConfigurationPath.absolute(argument0, relativeTo: FileManager.default.currentDirectoryPath)
        return ConfigurationPath.directory(of: absolute)
    }
}

/// Lexical path helpers (no file-system access), so paths in the configuration are
/// normalised the same way everywhere.
public enum ConfigurationPath {
    public static func join(_ base: String, _ component: String) -> String {
        if component.hasPrefix("/") { return normalize(component) }
        if base.isEmpty { return normalize(component) }
        return normalize(base.hasSuffix("/") ? base + component : base + "/" + component)
    }

    /// `path` made absolute against `directory` when it is relative, then normalised.
    public static func absolute(_ path: String, relativeTo directory: String) -> String {
        path.hasPrefix("/") ? normalize(path) : join(directory, path)
    }

    /// Removes `.` components, empty components and resolves `..` lexically.
    public static func normalize(_ path: String) -> String {
        let isAbsolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..":
                if let last = parts.last, last != ".." { parts.removeLast() }
                else if !isAbsolute { parts.append(part) }
            default: parts.append(part)
            }
        }
        let joined = parts.joined(separator: "/")
        if isAbsolute { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }

    public static func directory(of path: String) -> String {
        let normalized = normalize(path)
        guard let slash = normalized.lastIndex(of: "/") else { return "." }
        if slash == normalized.startIndex { return "/" }
        return String(normalized[..<slash])
    }
}
