import Foundation

extension ConfigurationError {
    /// A problem with the value at the dotted `key`; ``SupervisorConfiguration`` adds the file.
    init(_ key: String, _ message: String) {
        self.init(key: key, message: message)
    }
}

extension ConfigurationFile {
    /// The configuration with every default applied, after the checks that span keys: ranges
    /// between settings, names, `after` targets and cycles, and unique metrics ports.
    func resolve(source: String, environment: [String: String], executableDirectory: String?) throws(ConfigurationError)
        -> SupervisorConfiguration
    {
        let daemon = try daemonSettings(environment: environment, executableDirectory: executableDirectory)
        let defaults = try SupervisionPolicy().applying(self.defaults, at: "defaults")
        guard let tables = services?.entries, !tables.isEmpty else {
            throw ConfigurationError("services", "at least one service is required: add a [services.<name>] table")
        }
        var specs: [ServiceSpec] = []
        for (name, table) in tables { specs.append(try service(name, table, defaults: defaults, daemon: daemon)) }
        let ordered = try Self.startOrder(specs)
        var owners = [daemon.metricsPort: "orderd.metrics_port"]
        for service in ordered {
            let key = dotted("services", service.name, "metrics_port")
            if let owner = owners.updateValue(key, forKey: service.metricsPort) {
                throw ConfigurationError(key, "port \(service.metricsPort) is already used by \(owner)")
            }
        }
        let kafka = try kafkaSettings(environment: environment)
        return SupervisorConfiguration(source: source, daemon: daemon, kafka: kafka, services: ordered)
    }

    private func daemonSettings(environment: [String: String], executableDirectory: String?) throws(ConfigurationError)
        -> DaemonSettings
    {
        let table = orderd ?? DaemonTable()
        let socketPath = table.socketPath?.value ?? ConfigurationDefaults.socketPath(environment: environment)
        if socketPath.utf8.count > 107 {
            let hint = table.socketPath != nil
                ? "" : " (it is the default from the environment; set orderd.socket_path)"
            let message = "\"\(socketPath)\" is \(socketPath.utf8.count) bytes; a Unix socket path may have at most 107"
            throw ConfigurationError("orderd.socket_path", message + hint)
        }
        if let group = table.socketGroup?.value, !ConfigurationNames.isGroupName(group) {
            throw ConfigurationError("orderd.socket_group", "\"\(group)\" is not a valid group name or number")
        }
        let variable = environment[ConfigurationDefaults.binaryDirectoryVariable].flatMap { $0.isEmpty ? nil : $0 }
        let binaryDirectory = table.binaryDirectory?.value ?? variable
            ?? executableDirectory ?? ConfigurationDefaults.runningExecutableDirectory()
        let absolute = ConfigurationPath.join(FileManager.default.currentDirectoryPath, binaryDirectory)
        var daemon = DaemonSettings(socketPath: socketPath, binaryDirectory: absolute)
        daemon.socketGroup = table.socketGroup?.value
        daemon.metricsHost = table.metricsHost?.value ?? daemon.metricsHost
        daemon.metricsPort = table.metricsPort?.value ?? daemon.metricsPort
        daemon.scrapeTimeout = table.scrapeTimeout?.duration ?? daemon.scrapeTimeout
        daemon.stopTimeout = table.stopTimeout?.duration ?? daemon.stopTimeout
        daemon.dataDirectory = table.dataDirectory?.value ?? daemon.dataDirectory
        daemon.logLevel = table.logLevel?.value ?? daemon.logLevel
        return daemon
    }

    private func kafkaSettings(environment: [String: String]) throws(ConfigurationError) -> KafkaSettings {
        let variable = environment[ConfigurationDefaults.brokersVariable]
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        var settings = KafkaSettings(brokers: kafka?.brokers?.value ?? variable.flatMap { $0.isEmpty ? nil : $0 })
        settings.embeddedPartitions = kafka?.embeddedPartitions?.value ?? settings.embeddedPartitions
        var variables: [String: String] = [:]
        for (name, value) in Self.flatten(kafka?.properties, prefix: "").sorted(by: { $0.0 < $1.0 }) {
            let key = dotted("kafka", "properties", name)
            let allowed = name.unicodeScalars.allSatisfy {
                ConfigurationNames.isWord($0) || "._-".unicodeScalars.contains($0)
            }
            guard !name.isEmpty, allowed else {
                throw ConfigurationError(key, "is not a librdkafka property name (letters, digits, '.', '_', '-')")
            }
            if ["bootstrap.servers", "metadata.broker.list"].contains(name.lowercased()) {
                throw ConfigurationError(key, "set kafka.brokers instead")
            }
            let variable = KafkaSettings.environmentVariable(forProperty: name)
            if let other = variables.updateValue(name, forKey: variable) {
                throw ConfigurationError(key, "maps to the same environment variable \(variable) as \"\(other)\"")
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

    private func service(_ name: String, _ table: ServiceTable, defaults: SupervisionPolicy, daemon: DaemonSettings)
        throws(ConfigurationError) -> ServiceSpec
    {
        let key = { (component: String) in dotted("services", name, component) }
        guard ConfigurationNames.isBareKey(name), name.utf8.count <= 64 else {
            let message = "a service name is 1–64 of letters, digits, '_' and '-'"
            throw ConfigurationError(dotted("services", name), message)
        }
        let policy = try defaults.applying(table.policy, at: dotted("services", name))
        if policy.stopTimeout > daemon.stopTimeout {
            let (limit, own) = (DurationText.format(daemon.stopTimeout), DurationText.format(policy.stopTimeout))
            let inDefaults = self.defaults?.stopTimeout != nil ? "defaults.stop_timeout" : nil
            let origin = table.policy.stopTimeout != nil ? key("stop_timeout") : inDefaults
            throw ConfigurationError(
                key: origin ?? "orderd.stop_timeout",
                message: origin == nil
                    ? "\(limit) is shorter than the stop timeout of services.\(name) (\(own))"
                    : "\(own) is longer than orderd.stop_timeout (\(limit)), the budget for stopping every service"
            )
        }
        let own = table.own
        guard let metricsPort = own.metricsPort?.value else {
            let message = "is required: the port of the service's /metrics, /health and /ready (1–65535)"
            throw ConfigurationError(key("metrics_port"), message)
        }
        var environment: [String: String] = [:]
        for (variable, value) in own.environment?.entries ?? [] {
            let valid = variable.unicodeScalars.allSatisfy(ConfigurationNames.isWord)
            guard let first = variable.first, !first.isNumber, valid else {
                let message = "is not a valid environment variable name (letters, digits and '_', "
                    + "not starting with a digit)"
                throw ConfigurationError(dotted("services", name, "environment", variable), message)
            }
            environment[variable] = value.text
        }
        if let exported = environment["METRICS_PORT"], exported != String(metricsPort) {
            let message = "\"\(exported)\" differs from metrics_port (\(metricsPort)), which orderd probes and scrapes"
            let key = dotted("services", name, "environment", "METRICS_PORT")
            throw ConfigurationError(key, message + "; remove it or make them equal")
        }
        var after: [String] = []
        for dependency in own.after?.values.map(\.value) ?? [] where !after.contains(dependency) {
            if dependency == name {
                let message = "dependency cycle: \(name) -> \(name) (a service cannot start after itself)"
                throw ConfigurationError(key("after"), message)
            }
            after.append(dependency)
        }
        var spec = ServiceSpec(
            name: name, executable: ConfigurationPath.join(daemon.binaryDirectory, own.executable?.value ?? name),
            environment: environment, metricsPort: metricsPort, after: after, supervisionPolicy: policy
        )
        spec.arguments = own.arguments?.values ?? spec.arguments
        spec.workingDirectory = own.workingDirectory?.value ?? spec.workingDirectory
        spec.priority = own.priority?.value ?? spec.priority
        return spec
    }

    /// Kahn's algorithm, always taking the ready service of lowest (priority, name). Unknown
    /// `after` targets and cycles are errors on `services.<name>.after`.
    private static func startOrder(_ specs: [ServiceSpec]) throws(ConfigurationError) -> [ServiceSpec] {
        var remaining = specs.sorted { ($0.priority, $0.name) < ($1.priority, $1.name) }
        let names = Set(specs.map(\.name))
        for spec in remaining {
            if let unknown = spec.after.first(where: { !names.contains($0) }) {
                let configured = remaining.map(\.name).joined(separator: ", ")
                let message = "unknown service \"\(unknown)\"; configured: \(configured)"
                throw ConfigurationError(dotted("services", spec.name, "after"), message)
            }
        }
        var placed: [ServiceSpec] = []
        while let next = remaining.firstIndex(where: { $0.after.allSatisfy(placed.map(\.name).contains) }) {
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
        let message = "dependency cycle: \(cycle.joined(separator: " -> "))"
        throw ConfigurationError(dotted("services", cycle.first!, "after"), message)
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
            let (initial, maximum) = (policy.backoffInitial, policy.backoffMaximum)
            let (initialText, maximumText) = (DurationText.format(initial), DurationText.format(maximum))
            let message = "backoff_initial (\(initialText)) is longer than backoff_max (\(maximumText))"
            throw ConfigurationError(key, message)
        }
        return policy
    }
}
