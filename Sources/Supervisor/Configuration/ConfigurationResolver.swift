import Foundation

extension ConfigurationFile {
    /// The configuration with every default applied, after the checks that span keys: ranges
    /// between settings, names, `after` targets and cycles, and unique metrics ports.
    func resolve(
        source: String,
        environment: [String: String],
        executableDirectory: String?
    ) throws(ConfigurationError)
        -> SupervisorConfiguration
    {
        let daemon = try daemonSettings(environment: environment, executableDirectory: executableDirectory)
        let defaults = self.defaults.applied(to: SupervisionPolicy())
        try defaults.checkBackoff(maximumSet: self.defaults.sets("backoff_max"), at: "defaults")
        guard !services.isEmpty else {
            throw ConfigurationError("services", "at least one service is required: add a [services.<name>] table")
        }
        var specs: [ServiceSpec] = []
        for (name, table) in services { specs.append(try service(name, table, defaults: defaults, daemon: daemon)) }
        let ordered = try Self.startOrder(specs)
        var owners = [daemon.metricsPort: "orderd.metrics_port"]
        for service in ordered {
            let key = dotted("services", service.name, "metrics_port")
            if let owner = owners.updateValue(key, forKey: service.metricsPort) {
                throw ConfigurationError(key, "port \(service.metricsPort) is already used by \(owner)")
            }
        }
        let brokers = environment[ConfigurationDefaults.brokersVariable]
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        let kafka = self.kafka.applied(to: KafkaSettings(brokers: brokers))
        return SupervisorConfiguration(source: source, daemon: daemon, kafka: kafka, services: ordered)
    }

    private func daemonSettings(
        environment: [String: String],
        executableDirectory: String?
    ) throws(ConfigurationError)
        -> DaemonSettings
    {
        let variable = environment[ConfigurationDefaults.binaryDirectoryVariable].flatMap { $0.isEmpty ? nil : $0 }
        var daemon = orderd.applied(
            to: DaemonSettings(
                socketPath: ConfigurationDefaults.socketPath(environment: environment),
                binaryDirectory: variable ?? executableDirectory ?? ConfigurationDefaults.runningExecutableDirectory()
            )
        )
        let socketPath = daemon.socketPath
        if socketPath.utf8.count > ControlSocket.maximumPathBytes {
            let hint =
                orderd.sets("socket_path")
                ? "" : " (it is the default from the environment; set orderd.socket_path)"
            let message =
                "\"\(socketPath)\" is \(socketPath.utf8.count) bytes; it may have at most \(ControlSocket.maximumPathBytes)"
                + " (a Unix socket path has at most 107, and orderd binds at <socket_path>.d/s first)"
            throw ConfigurationError("orderd.socket_path", message + hint)
        }
        // groupadd's rule for a name (at most 32 bytes, optionally ending in `$`), or a numeric gid
        if let group = daemon.socketGroup,
            group.utf8.count > 32 || group.wholeMatch(of: /([0-9]+|[A-Za-z_][A-Za-z0-9_.-]*)\$?/) == nil
        {
            throw ConfigurationError("orderd.socket_group", "\"\(group)\" is not a valid group name or number")
        }
        let workingDirectory = FileManager.default.currentDirectoryPath
        daemon.binaryDirectory = ConfigurationPath.join(workingDirectory, daemon.binaryDirectory)
        return daemon
    }

    private func service(
        _ name: String,
        _ table: Overrides<ServiceSpec>,
        defaults: SupervisionPolicy,
        daemon: DaemonSettings
    ) throws(ConfigurationError) -> ServiceSpec {
        let key = { (component: String) in dotted("services", name, component) }
        guard name.wholeMatch(of: /[A-Za-z0-9_-]{1,64}/) != nil else {
            let message = "a service name is 1–64 of letters, digits, '_' and '-'"
            throw ConfigurationError(dotted("services", name), message)
        }
        let unset = ServiceSpec(name: name, executable: name, metricsPort: 0, supervisionPolicy: defaults)
        var spec = table.applied(to: unset)
        let policy = spec.supervisionPolicy
        try policy.checkBackoff(maximumSet: table.sets("backoff_max"), at: dotted("services", name))
        if policy.stopTimeout > daemon.stopTimeout {
            let (limit, own) = (DurationText.format(daemon.stopTimeout), DurationText.format(policy.stopTimeout))
            let origin =
                table.sets("stop_timeout")
                ? key("stop_timeout")
                : self.defaults.sets("stop_timeout") ? "defaults.stop_timeout" : nil
            throw ConfigurationError(
                key: origin ?? "orderd.stop_timeout",
                message: origin == nil
                    ? "\(limit) is shorter than the stop timeout of services.\(name) (\(own))"
                    : "\(own) is longer than orderd.stop_timeout (\(limit)), the budget for stopping every service"
            )
        }
        guard table.sets("metrics_port") else {
            let message = "is required: the port of the service's /metrics, /health and /ready (1–65535)"
            throw ConfigurationError(key("metrics_port"), message)
        }
        if let exported = spec.environment["METRICS_PORT"], exported != String(spec.metricsPort) {
            let message =
                "\"\(exported)\" differs from metrics_port (\(spec.metricsPort)), which orderd probes and scrapes"
            throw ConfigurationError(key("environment") + ".METRICS_PORT", message + "; remove it or make them equal")
        }
        if spec.after.contains(name) {
            let message = "dependency cycle: \(name) -> \(name) (a service cannot start after itself)"
            throw ConfigurationError(key("after"), message)
        }
        spec.after = spec.after.reduce(into: []) { after, next in if !after.contains(next) { after.append(next) } }
        spec.executable = ConfigurationPath.join(daemon.binaryDirectory, spec.executable)
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
    /// `backoff_initial` may not exceed `backoff_max`; the key blamed is `backoff_max` when the
    /// table at `path` sets it (the policy it overrides is valid).
    func checkBackoff(maximumSet: Bool, at path: String) throws(ConfigurationError) {
        guard backoffInitial > backoffMaximum else { return }
        let (initial, maximum) = (DurationText.format(backoffInitial), DurationText.format(backoffMaximum))
        let key = path + (maximumSet ? ".backoff_max" : ".backoff_initial")
        throw ConfigurationError(key, "backoff_initial (\(initial)) is longer than backoff_max (\(maximum))")
    }
}
