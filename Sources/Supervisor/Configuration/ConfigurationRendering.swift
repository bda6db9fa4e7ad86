extension SupervisorConfiguration {
    /// The value shown instead of a secret.
    public static let redacted = "[redacted]"

    /// The effective configuration as TOML, every default filled in and services in start
    /// order: what `orderd check-config` prints. Parsing it again (with the same environment)
    /// gives an equal configuration, except that secrets — Kafka properties and service
    /// environment variables whose name contains password, secret, jaas, pem, token or key —
    /// are shown as `"[redacted]"`.
    public func rendered() -> String {
        var out: [String] = []
        out.append("# Effective orderd configuration from \(source)")
        out.append("# Every default is filled in; services are listed in start order (stop order is the reverse).")
        out.append("# Secrets are shown as \(Self.quote(Self.redacted)).")
        out.append("")
        out.append("[orderd]")
        out.append("socket_path = \(Self.quote(daemon.socketPath))")
        if let group = daemon.socketGroup {
            out.append("socket_group = \(Self.quote(group))  # socket mode 0660")
        } else {
            out.append("# socket_group is not set: the socket is mode 0600 (owner only)")
        }
        out.append("metrics_host = \(Self.quote(daemon.metricsHost))")
        out.append("metrics_port = \(daemon.metricsPort)")
        out.append("scrape_timeout = \(Self.quote(DurationText.format(daemon.scrapeTimeout)))")
        out.append("stop_timeout = \(Self.quote(DurationText.format(daemon.stopTimeout)))")
        out.append("data_directory = \(Self.quote(daemon.dataDirectory))")
        out.append("binary_directory = \(Self.quote(daemon.binaryDirectory))")
        out.append("log_level = \(Self.quote(daemon.logLevel.rawValue))")
        out.append("")
        out.append("[kafka]")
        if let brokers = kafka.brokers {
            out.append("brokers = \(Self.quote(brokers))")
        } else {
            out.append("# brokers is not set (nor KAFKA_BROKERS): orderd runs the embedded broker")
        }
        out.append("embedded_partitions = \(kafka.embeddedPartitions)")
        if !kafka.properties.isEmpty {
            out.append("")
            out.append("[kafka.properties]")
            for name in kafka.properties.keys.sorted() {
                let value = KafkaSettings.isSecret(name) ? Self.redacted : kafka.properties[name]!
                out.append("\(Self.key(name)) = \(Self.quote(value))  # \(KafkaSettings.environmentVariable(forProperty: name))")
            }
        }
        for service in services {
            let table = "services.\(Self.key(service.name))"
            out.append("")
            out.append("[\(table)]")
            out.append("executable = \(Self.quote(service.executable))")
            out.append("arguments = [\(service.arguments.map(Self.quote).joined(separator: ", "))]")
            out.append("working_directory = \(Self.quote(service.workingDirectory))")
            out.append("metrics_port = \(service.metricsPort)")
            out.append("after = [\(service.after.map(Self.quote).joined(separator: ", "))]")
            out.append("restart = \(Self.quote(service.restart.rawValue))")
            out.append("backoff_initial = \(Self.quote(DurationText.format(service.backoff.initial)))")
            out.append("backoff_max = \(Self.quote(DurationText.format(service.backoff.maximum)))")
            out.append("backoff_reset_after = \(Self.quote(DurationText.format(service.backoff.resetAfter)))")
            out.append("start_limit_burst = \(service.startLimit.burst)")
            out.append("start_limit_interval = \(Self.quote(DurationText.format(service.startLimit.interval)))")
            out.append("stop_timeout = \(Self.quote(DurationText.format(service.stopTimeout)))")
            out.append("")
            out.append("[\(table).probes]")
            out.append("startup_budget = \(Self.quote(DurationText.format(service.probes.startupBudget)))")
            out.append("interval = \(Self.quote(DurationText.format(service.probes.interval)))")
            out.append("timeout = \(Self.quote(DurationText.format(service.probes.timeout)))")
            out.append("liveness_failure_threshold = \(service.probes.livenessFailureThreshold)")
            out.append("readiness_failure_threshold = \(service.probes.readinessFailureThreshold)")
            out.append("")
            out.append("[\(table).environment]")
            if service.environment["METRICS_PORT"] == nil {
                out.append("# METRICS_PORT = \"\(service.metricsPort)\" is exported from metrics_port")
            }
            for name in service.environment.keys.sorted() {
                let value = KafkaSettings.isSecret(name) ? Self.redacted : service.environment[name]!
                out.append("\(Self.key(name)) = \(Self.quote(value))")
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
