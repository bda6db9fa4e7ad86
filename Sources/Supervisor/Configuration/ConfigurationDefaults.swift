import Foundation

/// Where orderd finds its configuration file and what it falls back to from the environment.
/// The defaults of the settings themselves are on ``DaemonSettings``, ``KafkaSettings``,
/// ``ServiceSpec`` and ``SupervisionPolicy``.
public enum ConfigurationDefaults {
    /// Environment variable naming the configuration file when `--config` is not given.
    public static let configVariable = "ORDERD_CONFIG"
    /// Searched in order after `--config` and `$ORDERD_CONFIG`.
    public static let searchPaths = ["./etc/orderd.toml", "/etc/orderd/orderd.toml"]
    /// Environment variable that overrides the directory relative executables are found in.
    public static let binaryDirectoryVariable = "ORDERD_BIN_DIR"
    /// Environment variable naming the brokers when `kafka.brokers` is not set.
    public static let brokersVariable = "KAFKA_BROKERS"

    /// The default control socket path:
    /// `$RUNTIME_DIRECTORY/orderd.sock` (systemd's `RuntimeDirectory=`; the first entry when
    /// several are listed), else `$XDG_RUNTIME_DIR/orderd/orderd.sock`, else
    /// `/tmp/orderd-<uid>/orderd.sock`.
    public static func socketPath(environment: [String: String], uid: UInt32 = getuid()) -> String {
        if let runtime = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first, !runtime.isEmpty {
            return ConfigurationPath.join(String(runtime), "orderd.sock")
        }
        if let xdg = environment["XDG_RUNTIME_DIR"], !xdg.isEmpty {
            return ConfigurationPath.join(xdg, "orderd/orderd.sock")
        }
        return "/tmp/orderd-\(uid)/orderd.sock"
    }

    /// The directory of the running executable (symbolic links resolved), where orderd looks
    /// for the service executables by default.
    public static func runningExecutableDirectory() -> String {
        let files = FileManager.default
        // Both paths are absolute, so `..` of the executable is its directory.
        if let target = try? files.destinationOfSymbolicLink(atPath: "/proc/self/exe"), target.hasPrefix("/") {
            return ConfigurationPath.join(target, "..")
        }
        let argument0 = CommandLine.arguments.first ?? "."
        return ConfigurationPath.join(ConfigurationPath.join(files.currentDirectoryPath, argument0), "..")
    }
}

/// Lexical path helpers (no file-system access), so paths in the configuration are
/// normalised the same way everywhere.
enum ConfigurationPath {
    /// `component` under `base` (`component` itself when absolute), normalised.
    static func join(_ base: String, _ component: String) -> String {
        normalize(component.hasPrefix("/") || base.isEmpty ? component : base + "/" + component)
    }

    /// Removes `.` and empty components and resolves `..` lexically.
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == "..", let last = parts.last, last != ".." {
                parts.removeLast()
            } else if part != ".." || !path.hasPrefix("/") {
                parts.append(part)
            }
        }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : joined.isEmpty ? "." : joined
    }
}
