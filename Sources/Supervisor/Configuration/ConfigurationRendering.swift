extension SupervisorConfiguration {
    /// The value shown instead of a secret.
    public static let redacted = "[redacted]"

    /// The effective configuration as TOML, every default filled in and services in start
    /// order: what `orderd check-config` prints. Parsing it again (with the same environment)
    /// gives an equal configuration, except that secrets — Kafka properties and service
    /// environment variables whose name contains password, secret, jaas, pem, token or key —
    /// are shown as `"[redacted]"`.
    public func rendered() -> String {
        let format = DurationText.format
        var out = [
            "# Effective orderd configuration from \(source)",
            "# Every default is filled in; services are listed in start order (stop order is the reverse).",
            "# Secrets are shown as \(Self.quote(Self.redacted)).", "", "[orderd]",
            "socket_path = \(Self.quote(daemon.socketPath))",
            daemon.socketGroup.map { "socket_group = \(Self.quote($0))  # socket mode 0660" }
                ?? "# socket_group is not set: the socket is mode 0600 (owner only)",
            "metrics_host = \(Self.quote(daemon.metricsHost))", "metrics_port = \(daemon.metricsPort)",
            "scrape_timeout = \(Self.quote(format(daemon.scrapeTimeout)))",
            "stop_timeout = \(Self.quote(format(daemon.stopTimeout)))",
            "data_directory = \(Self.quote(daemon.dataDirectory))",
            "binary_directory = \(Self.quote(daemon.binaryDirectory))",
            "log_level = \(Self.quote(daemon.logLevel.rawValue))", "", "[kafka]",
            kafka.brokers.map { "brokers = \(Self.quote($0))" }
                ?? "# brokers is not set (nor KAFKA_BROKERS): orderd runs the embedded broker",
            "embedded_partitions = \(kafka.embeddedPartitions)",
        ]
        if !kafka.properties.isEmpty {
            out += ["", "[kafka.properties]"]
            for (name, value) in kafka.properties.sorted(by: { $0.key < $1.key }) {
                let shown = Self.quote(KafkaSettings.isSecret(name) ? Self.redacted : value)
                out.append("\(Self.key(name)) = \(shown)  # \(KafkaSettings.environmentVariable(forProperty: name))")
            }
        }
        for service in services {
            let (table, policy) = ("services.\(Self.key(service.name))", service.supervisionPolicy)
            out += [
                "", "[\(table)]", "executable = \(Self.quote(service.executable))",
                "arguments = [\(service.arguments.map(Self.quote).joined(separator: ", "))]",
                "working_directory = \(Self.quote(service.workingDirectory))", "metrics_port = \(service.metricsPort)",
                "after = [\(service.after.map(Self.quote).joined(separator: ", "))]", "priority = \(service.priority)",
                "restart = \(Self.quote(policy.restart.rawValue))",
                "backoff_initial = \(Self.quote(format(policy.backoffInitial)))",
                "backoff_max = \(Self.quote(format(policy.backoffMaximum)))",
                "backoff_reset_after = \(Self.quote(format(policy.backoffResetAfter)))",
                "start_limit_burst = \(policy.startLimitBurst)",
                "start_limit_interval = \(Self.quote(format(policy.startLimitInterval)))",
                "stop_timeout = \(Self.quote(format(policy.stopTimeout)))", "", "[\(table).probes]",
                "startup_budget = \(Self.quote(format(policy.startupBudget)))",
                "interval = \(Self.quote(format(policy.probeInterval)))",
                "timeout = \(Self.quote(format(policy.probeTimeout)))",
                "liveness_failure_threshold = \(policy.livenessFailureThreshold)",
                "readiness_failure_threshold = \(policy.readinessFailureThreshold)", "", "[\(table).environment]",
            ]
            if service.environment["METRICS_PORT"] == nil {
                out.append("# METRICS_PORT = \"\(service.metricsPort)\" is exported from metrics_port")
            }
            for (name, value) in service.environment.sorted(by: { $0.key < $1.key }) {
                out.append("\(Self.key(name)) = \(Self.quote(KafkaSettings.isSecret(name) ? Self.redacted : value))")
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// A TOML key: bare when possible, else a basic string.
    static func key(_ name: String) -> String {
        ConfigurationNames.isBareKey(name) ? name : quote(name)
    }

    /// A TOML basic string.
    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
