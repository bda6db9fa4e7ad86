import Storage
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
        let database = try databaseSettings(environment: environment)
        var specs: [ServiceSpec] = []
        for (name, table) in services { specs.append(try service(name, table, defaults: defaults, daemon: daemon)) }
        var ordered: [ServiceSpec] = []
        for spec in try Self.startOrder(specs) {
            ordered += try Self.instances(of: spec, among: specs, database: database)
        }
        var owners = [daemon.metricsPort: "orderd.metrics_port"]
        for instance in ordered {
            let key =
                dotted("services", instance.service, "metrics_port")
                + (instance.instance.map { " (instance \($0): metrics_port + \($0 - 1))" } ?? "")
            if let owner = owners.updateValue(key, forKey: instance.metricsPort) {
                throw ConfigurationError(
                    dotted("services", instance.service, "metrics_port"),
                    "port \(instance.metricsPort)\(key.hasSuffix(")") ? " of " + instance.name : "") is already used by \(owner)"
                )
            }
        }
        let brokers = environment[ConfigurationDefaults.brokersVariable]
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
        let kafka = self.kafka.applied(to: KafkaSettings(brokers: brokers))
        return SupervisorConfiguration(
            source: source,
            daemon: daemon,
            kafka: kafka,
            database: database,
            services: ordered
        )
    }

    /// `[database]` over `$DATABASE_URL`.
    private func databaseSettings(environment: [String: String]) throws(ConfigurationError) -> DatabaseSettings {
        var settings = DatabaseSettings()
        if let text = environment["DATABASE_URL"]?.trimmingCharacters(in: .whitespaces), !text.isEmpty {
            do {
                settings.url = try DatabaseURL(text)
            } catch {
                throw ConfigurationError("database.url", "DATABASE_URL in orderd's environment: \(error)")
            }
        }
        return database.applied(to: settings)
    }

    /// The processes of `spec`: itself when it has one instance; otherwise `<name>.<n>` for
    /// n = 1…instances, each with `SERVICE_INSTANCE`, its own metrics port and `${INSTANCE}` in
    /// its environment's values replaced by n. `after` entries naming a service with several
    /// instances wait for all of them.
    private static func instances(
        of spec: ServiceSpec,
        among specs: [ServiceSpec],
        database: DatabaseSettings
    ) throws(ConfigurationError) -> [ServiceSpec] {
        var spec = spec
        spec.after = spec.after.flatMap { name in
            let count = specs.first { $0.name == name }?.instances ?? 1
            return count == 1 ? [name] : (1...count).map { "\(name).\($0)" }
        }
        guard spec.instances > 1 else { return [spec] }
        if spec.environment["METRICS_PORT"] != nil {
            let message = "must not be set with instances = \(spec.instances): each instance gets metrics_port + n - 1"
            throw ConfigurationError(dotted("services", spec.name, "environment", "METRICS_PORT"), message)
        }
        guard database.url != nil else {
            throw ConfigurationError(
                dotted("services", spec.name, "instances"),
                "\(spec.instances) instances need a database they share: set [database] url (PostgreSQL) or"
                    + " DATABASE_URL; with SQLite each instance would keep an inbox of its own and apply events again"
            )
        }
        return (1...spec.instances).map { number in
            var instance = spec
            instance.name = "\(spec.service).\(number)"
            instance.instance = number
            instance.metricsPort = spec.metricsPort + number - 1
            instance.instanceTemplate = spec.environment
            instance.environment = spec.environment.mapValues {
                $0.replacingOccurrences(of: "${INSTANCE}", with: String(number))
            }
            return instance
        }
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
        let unset = ServiceSpec(
            name: name,
            service: name,
            executable: name,
            metricsPort: 0,
            supervisionPolicy: defaults
        )
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
