import Foundation
import Storage

extension SupervisorConfiguration {
    /// The value shown instead of a secret.
    public static let redacted = "[redacted]"

    /// The effective configuration as TOML, every default filled in and services in start
    /// order: what `orderd check-config` prints. Parsing it again (with the same environment)
    /// gives an equal configuration, except that secrets — Kafka properties and service
    /// environment variables whose name contains password, secret, jaas, pem, token or key —
    /// are shown as `"[redacted]"`.
    public func rendered() -> String {
        var out =
            [
                "# Effective orderd configuration from \(source)",
                "# Every default is filled in; services are listed in start order (stop order is the reverse).",
                "# Secrets are shown as \(Self.quote(Self.redacted)).", "", "[orderd]",
            ] + DaemonSettings.lines(daemon) + ["", "[kafka]"] + KafkaSettings.lines(kafka)
            + ["", "[database]"] + DatabaseSettings.lines(database)
        if !kafka.properties.isEmpty {
            out += ["", "[kafka.properties]"]
            for (name, value) in kafka.properties.sorted(by: { $0.key < $1.key }) {
                out.append("\(Self.entry(name, value))  # \(KafkaSettings.environmentVariable(forProperty: name))")
            }
        }
        // One table per service: its instances are the first one's settings with their own ports.
        for service in services where (service.instance ?? 1) == 1 {
            let table = "services.\(Self.key(service.service))"
            out += ["", "[\(table)]"]
            if service.instance != nil {
                let names = instances(of: service.service).map { "\($0.name) (metrics port \($0.metricsPort))" }
                out.append("# instances: \(names.joined(separator: ", ")); ${INSTANCE} below is each one's number")
            }
            out +=
                ServiceSpec.lines(service) + ["", "[\(table).probes]"]
                + SupervisionPolicy.Probes.lines(service.supervisionPolicy) + ["", "[\(table).environment]"]
            if service.environment["METRICS_PORT"] == nil {
                out.append("# METRICS_PORT = \"\(service.metricsPort)\" is exported from metrics_port")
            }
            out += service.configuredEnvironment.sorted(by: { $0.key < $1.key }).map(Self.entry)
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// `name = "value"`, the value redacted when the name denotes a secret; a `DATABASE_URL`
    /// without its password.
    private static func entry(_ name: String, _ value: String) -> String {
        if name == "DATABASE_URL" {
            return "\(key(name)) = \(quote((try? DatabaseURL(value))?.description ?? redacted))"
        }
        return "\(key(name)) = \(quote(KafkaSettings.isSecret(name) ? redacted : value))"
    }

    /// A TOML key: bare when possible, else a basic string.
    static func key(_ name: String) -> String {
        name.wholeMatch(of: /[A-Za-z0-9_-]+/) != nil ? name : quote(name)
    }

    /// A TOML basic string: a JSON string is one, once DEL (which JSON leaves as it is) is escaped.
    static func quote(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let json = String(decoding: try! encoder.encode(text), as: UTF8.self)
        return json.replacingOccurrences(of: "\u{7F}", with: "\\u007F")
    }
}
