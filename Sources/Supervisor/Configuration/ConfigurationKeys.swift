import Logging

// The keys of each table: decoded and checked in this order, printed by `orderd check-config`
// in this order, and listed in this order when a key is unknown. Defaults are those of the
// settings types.

private let ports = 1...65535
private let counts = 1...1_000_000

/// `[orderd]`
extension DaemonSettings: ConfigurationTable {
    static var keys: [Key<Self>] {
        [
            Key("socket_path", \.socketPath, Text.self),
            Key(
                "socket_group",
                Text.self,
                render: {
                    $0.socketGroup.map { "socket_group = \(SupervisorConfiguration.quote($0))  # socket mode 0660" }
                        ?? "# socket_group is not set: the socket is mode 0600 (owner only)"
                },
                set: { $0.socketGroup = $1 }
            ),
            Key("metrics_host", \.metricsHost, Text.self),
            Key("metrics_port", \.metricsPort, Int.self, check: within(ports)),
            Key("scrape_timeout", \.scrapeTimeout, DurationText.self),
            Key("stop_timeout", \.stopTimeout, DurationText.self),
            Key("data_directory", \.dataDirectory, Text.self),
            Key("binary_directory", \.binaryDirectory, Text.self),
            Key("log_level", \.logLevel, Choice<Logger.Level>.self),
        ]
    }
}

/// `[kafka]`
extension KafkaSettings: ConfigurationTable {
    static var keys: [Key<Self>] {
        [
            Key(
                "brokers",
                Brokers.self,
                render: {
                    $0.brokers.map { "brokers = \(SupervisorConfiguration.quote($0))" }
                        ?? "# brokers is not set (nor KAFKA_BROKERS): orderd runs the embedded broker"
                },
                set: { $0.brokers = $1 }
            ),
            Key("embedded_partitions", \.embeddedPartitions, Int.self, check: within(1...10_000)),
            Key("properties", Properties.self) { $0.properties = $1 },
        ]
    }
}

/// `[database]`
extension DatabaseSettings: ConfigurationTable {
    static var keys: [Key<Self>] {
        [
            Key(
                "url",
                PostgreSQLURL.self,
                render: {
                    $0.url.map { "url = \(SupervisorConfiguration.quote($0.description))  # password not shown" }
                        ?? "# url is not set (nor DATABASE_URL): each service keeps its state in SQLite under data_directory"
                },
                set: { $0.url = $1 }
            )
        ]
    }
}

/// `[defaults]`, and the same keys in `[services.<name>]`.
extension SupervisionPolicy: ConfigurationTable {
    static var keys: [Key<Self>] {
        [
            Key("restart", \.restart, Choice<RestartPolicy>.self),
            Key("backoff_initial", \.backoffInitial, DurationText.self),
            Key("backoff_max", \.backoffMaximum, DurationText.self),
            Key("backoff_reset_after", \.backoffResetAfter, DurationText.self),
            Key("start_limit_burst", \.startLimitBurst, Int.self, check: within(counts)),
            Key("start_limit_interval", \.startLimitInterval, DurationText.self),
            Key("stop_timeout", \.stopTimeout, DurationText.self),
            Key("probes", Overrides<Probes>.self) { $0 = $1.applied(to: $0) },
        ]
    }

    /// `[defaults.probes]`, `[services.<name>.probes]`
    enum Probes: ConfigurationTable {
        static var keys: [Key<SupervisionPolicy>] {
            [
                Key("startup_budget", \.startupBudget, DurationText.self),
                Key("interval", \.probeInterval, DurationText.self),
                Key("timeout", \.probeTimeout, DurationText.self),
                Key("liveness_failure_threshold", \.livenessFailureThreshold, Int.self, check: within(counts)),
                Key("readiness_failure_threshold", \.readinessFailureThreshold, Int.self, check: within(counts)),
            ]
        }
    }
}

/// `[services.<name>]`: its own keys, then those of ``SupervisionPolicy``.
extension ServiceSpec: ConfigurationTable {
    static var keys: [Key<Self>] {
        [
            Key("executable", \.executable, Text.self),
            Key("arguments", \.arguments, [String].self),
            Key("working_directory", \.workingDirectory, Text.self),
            Key("environment", Environment.self) { $0.environment = $1 },
            Key("metrics_port", \.metricsPort, Int.self, check: within(ports)),
            Key("instances", \.instances, Int.self, check: within(1...64)),
            Key("after", \.after, [Text].self),
            Key("priority", \.priority, Int.self, check: within(-1_000_000...1_000_000)),
        ] + SupervisionPolicy.keys.map { $0.lifted(\.supervisionPolicy) }
    }
}
