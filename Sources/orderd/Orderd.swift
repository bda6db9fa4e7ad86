import ArgumentParser
import Foundation
import Supervisor

@main
struct Orderd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orderd",
        abstract: "Supervises the order platform's services on one host, the way systemd supervises daemons.",
        discussion: """
            orderd spawns order-service, payment-service, inventory-service and notification-service, \
            probes their /health and /ready, restarts them with backoff, serves one aggregated Prometheus \
            endpoint (default :9200), and notifies systemd. Without a configured Kafka it hosts an \
            in-memory development broker.

            Configuration is read from --config, else $ORDERD_CONFIG, else ./etc/orderd.toml, else /etc/orderd/orderd.toml.
            """,
        subcommands: [Run.self, Status.self, Start.self, Stop.self, Restart.self, ResetFailed.self, CheckConfig.self]
    )
}

struct ConfigOption: ParsableArguments {
    @Option(
        name: .long,
        help: "Configuration file (default: $ORDERD_CONFIG, then ./etc/orderd.toml, then /etc/orderd/orderd.toml)."
    )
    var config: String?

    func locate() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        guard
            let path = SupervisorConfiguration.locate(
                explicit: config,
                environment: environment,
                fileExists: { FileManager.default.fileExists(atPath: $0) }
            )
        else {
            throw ValidationError(
                "no configuration found: pass --config PATH or create ./etc/orderd.toml or /etc/orderd/orderd.toml"
            )
        }
        return path
    }
}

struct SocketOptions: ParsableArguments {
    @OptionGroup var configOption: ConfigOption

    @Option(
        name: .long,
        help: "Control socket of the running orderd (default: from the configuration, else the default path)."
    )
    var socket: String?

    /// The socket to talk to: --socket, else the configuration's, else the default path.
    func socketPath() -> String {
        if let socket { return socket }
        let environment = ProcessInfo.processInfo.environment
        if let path = try? configOption.locate(),
            let configuration = try? SupervisorConfiguration.load(path: path, environment: environment)
        {
            return configuration.daemon.socketPath
        }
        return ConfigurationDefaults.socketPath(environment: environment)
    }
}

extension Orderd {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the supervisor in the foreground (what systemd's ExecStart runs).",
            discussion:
                "Stops gracefully on SIGTERM or SIGINT (services in reverse start order); SIGHUP reloads the configuration."
        )

        @OptionGroup var configOption: ConfigOption

        func run() async throws {
            let path = try configOption.locate()
            // A closed stdout must not kill the supervisor; its writes just fail.
            signal(SIGPIPE, SIG_IGN)
            let status = await Daemon.run(configPath: path, environment: ProcessInfo.processInfo.environment)
            throw ExitCode(status)
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show every service's state.",
            discussion:
                "Exit status: 0 when every service is ready, 3 when any is not, 4 when orderd cannot be reached."
        )

        @OptionGroup var socketOptions: SocketOptions
        @Flag(name: .long, help: "Print JSON instead of a table.") var json = false

        func run() async throws {
            let status: DaemonStatus
            do {
                status = try await ControlClient(socketPath: socketOptions.socketPath()).status()
            } catch {
                FileHandle.standardError.write(Data("orderd status: \(error)\n".utf8))
                throw ExitCode(4)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(status), as: UTF8.self))
            } else {
                print(StatusTable.render(status))
            }
            throw ExitCode(status.allReady ? 0 : 3)
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a stopped or failed service (clears its start-limit history)."
        )
        @OptionGroup var target: ServiceTarget
        func run() async throws { try await target.perform(.start) }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a service: SIGTERM to its process group, SIGKILL after its stop timeout.",
            discussion: "The stop is sticky: the restart policy does not start it again until `orderd start`."
        )
        @OptionGroup var target: ServiceTarget
        func run() async throws { try await target.perform(.stop) }
    }

    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a service and start it again.")
        @OptionGroup var target: ServiceTarget
        func run() async throws { try await target.perform(.restart) }
    }

    struct ResetFailed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-failed",
            abstract: "Clear a failed service's start-limit history and start it again."
        )
        @OptionGroup var target: ServiceTarget
        func run() async throws { try await target.perform(.resetFailed) }
    }

    struct CheckConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-config",
            abstract: "Validate the configuration and print the effective one, every default filled in.",
            discussion: "Exit status 0 when valid; 78 with an error naming the key and the file otherwise."
        )
        @OptionGroup var configOption: ConfigOption

        func run() async throws {
            let path = try configOption.locate()
            do {
                let configuration = try SupervisorConfiguration.load(
                    path: path,
                    environment: ProcessInfo.processInfo.environment
                )
                print("# \(path): valid")
                print(configuration.rendered())
            } catch {
                FileHandle.standardError.write(Data("orderd: \(error)\n".utf8))
                throw ExitCode(Daemon.configurationErrorStatus)
            }
        }
    }
}

/// The arguments of `orderd start|stop|restart|reset-failed`: which service, through which socket.
struct ServiceTarget: ParsableArguments {
    @OptionGroup var socketOptions: SocketOptions
    @Argument(
        help: "The service (every instance of it), or one instance: payment-service, payment-service.2."
    )
    var service: String

    /// Sends `command` for the service — to each of its instances in turn when it runs several
    /// (`<service>.<n>`) — and prints each new state; exit 4 when orderd is not reachable, 1 for
    /// any other refusal.
    func perform(_ command: Supervisor.Command) async throws {
        do {
            let client = ControlClient(socketPath: try socketOptions.socketPath())
            for name in try await Self.targets(of: service, in: try await client.status()) {
                let status = try await client.perform(command, service: name)
                print("\(status.name): \(status.state.rawValue)\(status.note.map { " (\($0))" } ?? "")")
            }
        } catch {
            FileHandle.standardError.write(Data("orderd \(command.rawValue): \(error)\n".utf8))
            if case .unreachable = error { throw ExitCode(4) }
            throw ExitCode(1)
        }
    }

    /// `name` itself when orderd supervises a process of that name; otherwise its instances
    /// (`<name>.1`, `<name>.2`, …) when it has some; otherwise `name` (orderd refuses it, listing
    /// what it supervises).
    static func targets(of name: String, in status: DaemonStatus) -> [String] {
        let names = status.services.map(\.name)
        guard !names.contains(name) else { return [name] }
        let instances = names.filter {
            $0.hasPrefix(name + ".") && Int($0.dropFirst(name.count + 1)) != nil
        }
        return instances.isEmpty ? [name] : instances
    }
}
