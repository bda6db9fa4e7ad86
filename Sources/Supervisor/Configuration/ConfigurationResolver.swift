import Foundation

extension ConfigurationFile {
    /// The configuration with every default applied, after the checks that span keys: ranges
    /// between settings, names, `after` targets and cycles, and unique metrics ports.
    func resolve(
        source: String, environment: [String: String], executableDirectory: String?
    ) throws(ConfigurationError) -> SupervisorConfiguration {
        let daemon = try daemonSettings(environment: environment, executableDirectory: executableDirectory)
        let defaults = try SupervisionPolicy().applying(self.defaults, at: "defaults")
        guard let tables = services?.entries, !tables.isEmpty else {
            throw ConfigurationError(key: "services", message: "at least one service is required: add a [services.<name>] table")
        }
        var specs: [ServiceSpec] = []
        for (name, table) in tables {
            specs.append(try service(name, table, defaults: defaults, daemon: daemon))
        }
        let ordered = try Self.startOrder(specs)
        var owners = [daemon.metricsPort: "orderd.metrics_port"]
        for service in ordered {
            let key = dotted("services", service.name, "metrics_port")
            if let owner = owners.updateValue(key, forKey: service.metricsPort) {
                throw ConfigurationError(key: key, message: "port \(service.metricsPort) is already used by \(owner)")
            }
        }
        return SupervisorConfiguration(
            source: source, daemon: daemon, kafka: try kafkaSettings(environment: environment), services: ordered
        )
    }

    private func daemonSettings(
        environment: [String: String], executableDirectory: String?
    ) throws(ConfigurationError) -> DaemonSettings {
        let table = orderd ?? DaemonTable()
        let socketPath = table.socketPath?.value ?? ConfigurationDefaults.socketPath(environment: environment)
        if socketPath.utf8.count > 107 {
            let hint = table.socketPath == nil ? " (it is the default from the environment; set orderd.socket_path)" : ""
            throw ConfigurationError(
                key: "orderd.socket_path",
                message: "\"\(socketPath)\" is \(socketPath.utf8.count) bytes; a Unix socket path may have at most 107" + hint
            )
        }
        if let group = table.socketGroup?.value, !ConfigurationNames.isGroupName(group) {
            throw ConfigurationError(key: "orderd.socket_group", message: "\"\(group)\" is not a valid group name or number")
        }
        let variable = environment[ConfigurationDefaults.binaryDirectoryVariable].flatMap { $0.isEmpty ? nil : $0 }
        let binaryDirectory = table.binaryDirectory?.value ?? variable
            ?? executableDirectory ?? ConfigurationDefaults.runningExecutableDirectory()
        var daemon = DaemonSettings(
            socketPath: socketPath, socketGroup: table.socketGroup?.value,
            binaryDirectory: ConfigurationPath.absolute(binaryDirectory, relativeTo: FileManager.default.currentDirectoryPath)
        )
        daemon.metricsHost = table.metricsHost?.value ?? daemon.metricsHost
        daemon.metricsPort = table.metricsPort?.value ?? daemon.metricsPort
        daemon.scrapeTimeout = table.scrapeTimeout?.duration ?? daemon.scrapeTimeout
        daemon.stopTimeout = table.stopTimeout?.duration ?? daemon.stopTimeout
        daemon.dataDirectory = table.dataDirectory?.value ?? daemon.dataDirectory
        daemon.logLevel = table.logLevel?.value ?? daemon.logLevel
        return daemon
    }

    private func kafkaSettings(environment: [String: String]) throws(ConfigurationError) -> KafkaSettings {
        let variable = environment[ConfigurationDefaults.brokersVariable]?.trimmingCharacters(in: .whitespacesAndNewlines)
        var settings = KafkaSettings(brokers: kafka?.brokers?.value ?? variable.flatMap { $0.isEmpty ? nil : $0 })
        settings.embeddedPartitions = kafka?.embeddedPartitions?.value ?? settings.embeddedPartitions
        var variables: [String: String] = [:]
        for (name, value) in Self.flatten(kafka?.properties, prefix: "").sorted(by: { $0.0 < $1.0 }) {
            let key = dotted("kafka", "properties", name)
            guard !name.isEmpty, name.unicodeScalars.allSatisfy({ ConfigurationNames.isWord($0) || "._-".unicodeScalars.contains($0) }) else {
                throw ConfigurationError(key: key, message: "is not a librdkafka property name (letters, digits, '.', '_', '-')")
            }
            if ["bootstrap.servers", "metadata.broker.list"].contains(name.lowercased()) {
                throw ConfigurationError(key: key, message: "set kafka.brokers instead")
            }
            let variable = KafkaSettings.environmentVariable(forProperty: name)
            if let other = variables.updateValue(name, forKey: variable) {
                throw ConfigurationError(key: key, message: "maps to the same environment variable \(variable) as \"\(other)\"")
            }
            settings.properties[name] = value
        }
        return settings
    }

    /// `[kafka.properties]` accepts `"security.protocol" = "SASL_SSL"` and the dotted-key form
    /// `security.protocol = "SASL_SSL"` (which TOML nests); both give `security.protocol`.
    private static func flatten(_ table: Entries<PropertyValue>?, prefix: String) -> [(String, String)] {
        (table?.entries ?? []).flatMap { key, value -> [(String, String)] in
            let name = prefix.isEmpty ? key : prefix + "." + key
            switch value {
            case .value(let scalar): return [(name, scalar.text)]
            case .table(let nested): return flatten(nested, prefix: name)
            }
        }
    }

    private func service(
        _ name: String, _ table: ServiceTable, defaults: SupervisionPolicy, daemon: DaemonSettings
    ) throws(ConfigurationError) -> ServiceSpec {
        let key = { (component: String) in dotted("services", name, component) }
        guard !name.isEmpty, name.utf8.count <= 64, name.unicodeScalars.allSatisfy({ ConfigurationNames.isWord($0) || $0 == "-" }) else {
            throw ConfigurationError(key: dotted("services", name), message: "a service name is 1–64 of letters, digits, '_' and '-'")
        }
        let policy = try defaults.applying(table.policy, at: dotted("services", name))
        if policy.stopTimeout > daemon.stopTimeout {
            let (limit, own) = (DurationText.format(daemon.stopTimeout), DurationText.format(policy.stopTimeout))
            let origin = table.policy.stopTimeout != nil ? key("stop_timeout") : self.defaults?.stopTimeout != nil ? "defaults.stop_timeout" : nil
            throw ConfigurationError(
                key: origin ?? "orderd.stop_timeout",
                message: origin == nil
                    ? "\(limit) is shorter than the stop timeout of services.\(name) (\(own))"
                    : "\(own) is longer than orderd.stop_timeout (\(limit)), the budget for stopping every service"
            )
        }
        let own = table.own
        guard let metricsPort = own.metricsPort?.value else {
            throw ConfigurationError(
                key: key("metrics_port"), message: "is required: the port of the service's /metrics, /health and /ready (1–65535)"
            )
        }
        var environment: [String: String] = [:]
        for (variable, value) in own.environment?.entries ?? [] {
            guard let first = variable.unicodeScalars.first, !("0"..."9").contains(first),
                variable.unicodeScalars.allSatisfy(ConfigurationNames.isWord)
            else {
                throw ConfigurationError(
                    key: dotted("services", name, "environment", variable),
                    message: "is not a valid environment variable name (letters, digits and '_', not starting with a digit)"
                )
            }
            environment[variable] = value.text
        }
        if let exported = environment["METRICS_PORT"], exported != String(metricsPort) {
            throw ConfigurationError(
                key: dotted("services", name, "environment", "METRICS_PORT"),
                message: "\"\(exported)\" differs from metrics_port (\(metricsPort)), which orderd probes and scrapes; remove it or make them equal"
            )
        }
        var after: [String] = []
        for dependency in own.after?.values.map(\.value) ?? [] where !after.contains(dependency) {
            if dependency == name {
                throw ConfigurationError(key: key("after"), message: "dependency cycle: \(name) -> \(name) (a service cannot start after itself)")
            }
            after.append(dependency)
        }
        return ServiceSpec(
            name: name,
            executable: ConfigurationPath.absolute(own.executable?.value ?? name, relativeTo: daemon.binaryDirectory),
            arguments: own.arguments?.values ?? [],
            workingDirectory: own.workingDirectory?.value ?? ".",
            environment: environment,
            metricsPort: metricsPort,
            after: after,
            priority: own.priority?.value ?? 0,
            supervisionPolicy: policy
        )
    }

    /// Kahn's algorithm, always taking the ready service of lowest (priority, name). Unknown
    /// `after` targets and cycles are errors on `services.<name>.after`.
    private static func startOrder(_ specs: [ServiceSpec]) throws(ConfigurationError) -> [ServiceSpec] {
        var remaining = specs.sorted { ($0.priority, $0.name) < ($1.priority, $1.name) }
        let names = Set(specs.map(\.name))
        for spec in remaining {
            if let unknown = spec.after.first(where: { !names.contains($0) }) {
                throw ConfigurationError(
                    key: dotted("services", spec.name, "after"),
                    message: "unknown service \"\(unknown)\"; configured: \(remaining.map(\.name).joined(separator: ", "))"
                )
            }
        }
        var placed: [ServiceSpec] = []
        while let next = remaining.firstIndex(where: { spec in spec.after.allSatisfy { name in placed.contains { $0.name == name } } }) {
            placed.append(remaining.remove(at: next))
        }
        guard var current = remaining.first else { return placed }
        // Every remaining service waits for another remaining one: walk until a repeat.
        var path: [String] = []
        while !path.contains(current.name) {
            path.append(current.name)
            current = remaining.first { current.after.contains($0.name) }!
        }
        let cycle = path[path.firstIndex(of: current.name)!...] + [current.name]
        throw ConfigurationError(key: dotted("services", cycle.first!, "after"), message: "dependency cycle: \(cycle.joined(separator: " -> "))")
    }
}

extension SupervisionPolicy {
    /// This policy with what `table` (at dotted `path`) sets; `backoff_initial` may not exceed
    /// `backoff_max`. `self` is valid, so a violation is always caused by a key of `table`.
    func applying(_ table: PolicyTable?, at path: String) throws(ConfigurationError) -> SupervisionPolicy {
        guard let table else { return self }
        var policy = self
        policy.restart = table.restart?.value ?? restart
        policy.backoffInitial = table.backoffInitial?.duration ?? backoffInitial
        policy.backoffMaximum = table.backoffMaximum?.duration ?? backoffMaximum
        policy.backoffResetAfter = table.backoffResetAfter?.duration ?? backoffResetAfter
        policy.startLimitBurst = table.startLimitBurst?.value ?? startLimitBurst
        policy.startLimitInterval = table.startLimitInterval?.duration ?? startLimitInterval
        policy.stopTimeout = table.stopTimeout?.duration ?? stopTimeout
        policy.startupBudget = table.probes?.startupBudget?.duration ?? startupBudget
        policy.probeInterval = table.probes?.interval?.duration ?? probeInterval
        policy.probeTimeout = table.probes?.timeout?.duration ?? probeTimeout
        policy.livenessFailureThreshold = table.probes?.livenessFailureThreshold?.value ?? livenessFailureThreshold
        policy.readinessFailureThreshold = table.probes?.readinessFailureThreshold?.value ?? readinessFailureThreshold
        guard policy.backoffInitial <= policy.backoffMaximum else {
            let key = path + (table.backoffMaximum != nil ? ".backoff_max" : ".backoff_initial")
            let (initial, maximum) = (DurationText.format(policy.backoffInitial), DurationText.format(policy.backoffMaximum))
            throw ConfigurationError(key: key, message: "backoff_initial (\(initial)) is longer than backoff_max (\(maximum))")
        }
        return policy
    }
}
