import ArgumentParser
import Configuration
import Foundation
import Logging

/// A service binary's subcommands for putting its store right while the service is stopped:
/// `SERVICE outbox list|requeue|discard` and `SERVICE dead-letters list|replay`.
///
/// They open the service's database exactly as the service does (`DATA_DIR`, `SERVICE_NAME`, the
/// same migrations), so they need the service stopped: a running one holds the database's lock
/// and the command says to stop it first. Each change is one transaction; a command that names
/// an id that is not there changes nothing. What they write is published by the outbox relay at
/// the service's next start.
enum OperatorCommands {
    /// Runs the subcommand in `arguments` for service `S` and exits: 0 when it did what was asked,
    /// 1 when it failed or a dead letter is still rejected, 64 for a usage error (with `--help`
    /// for each command), ``ServiceHost/configurationErrorStatus`` for an invalid environment.
    static func main<S: PlatformService>(_: S.Type, arguments: [String], environment: [String: String]) async -> Never {
        let command: any ParsableCommand
        do {
            command = try OperatorCommand.parseAsRoot(arguments)
        } catch {
            OperatorCommand.exit(withError: error)
        }
        guard let repair = command as? any RepairCommand else {
            // `--help`/`help` (ArgumentParser's own command) or a group alone (`outbox`), whose
            // run() prints the right help.
            var command = command
            do {
                try command.run()
                exit(0)
            } catch {
                OperatorCommand.exit(withError: error)
            }
        }
        let name = S.identity.name
        let configuration: ServiceConfiguration
        do {
            configuration = try ServiceConfiguration(identity: S.identity, environment: environment)
        } catch {
            fail("\(name): configuration error: \(error)", status: ServiceHost.configurationErrorStatus)
        }
        var logger = Logger(label: configuration.serviceName)
        logger.logLevel = .warning
        do {
            let store = try await EventStore.open(configuration, migrations: S.migrations, logger: logger)
            let context = RepairContext(store: store) { [logger] in
                try S(configuration: configuration, reader: ConfigReader(environment: environment), logger: logger)
            }
            let succeeded = try await repair.run(context)
            exit(succeeded ? 0 : 1)
        } catch let error as EventStore.InUse {
            let service = configuration.serviceName
            fail(
                """
                \(service): \(error.path) is in use, most likely by the running service: stop it first \
                (`orderd stop \(service)`), run this command again, then start it (`orderd start \(service)`)
                """,
                status: 1
            )
        } catch {
            fail("\(configuration.serviceName): \(error)", status: 1)
        }
    }

    private static func fail(_ message: String, status: Int32) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(status)
    }
}

/// What a repair command works on.
struct RepairContext: Sendable {
    /// The service's store, opened (and locked) as the service would open it.
    let store: EventStore
    /// Builds the service's event handler, as the service does at start (only replay needs it).
    let makeHandler: @Sendable () throws -> any EventHandler

    /// Prints one line of the command's answer on standard output.
    func say(_ line: String) {
        print(line)
    }
}

/// A leaf subcommand: does its work on the store.
protocol RepairCommand: ParsableCommand {
    /// - Returns: false when something asked for could not be done (the process exits 1).
    func run(_ context: RepairContext) async throws -> Bool
}

/// The root: the service itself, whose subcommands repair its store.
struct OperatorCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: URL(fileURLWithPath: CommandLine.arguments.first ?? "service").lastPathComponent,
            abstract: "A platform service. Without arguments it runs, configured by its environment (see the README).",
            discussion: """
                The subcommands put the service's store right and need the service stopped (a running \
                service holds its database's lock): `orderd stop SERVICE`, run the command with the \
                service's environment (DATA_DIR=<orderd data_directory>/SERVICE), then `orderd start \
                SERVICE`. The outbox relay publishes what they queue at that start.
                """,
            subcommands: [OutboxCommand.self, DeadLettersCommand.self]
        )
    }
}

/// Ids named on the command line, or `--all`.
struct Selection: ParsableArguments {
    @Argument(help: "The ids to act on, as the list shows them.")
    var ids: [Int64] = []

    @Flag(help: "Act on every one of them.")
    var all = false

    func validate() throws {
        guard ids.isEmpty == all else { throw ValidationError("name the ids, or pass --all (not both)") }
    }

    /// The ids, or nil for all.
    var chosen: [Int64]? { all ? nil : ids }
}

extension Array where Element == UInt8 {
    /// A key as an operator reads it.
    fileprivate var printable: String { String(decoding: self, as: UTF8.self) }
}

/// "1 row" / "2 rows".
private func count(_ number: Int, _ noun: String) -> String {
    "\(number) \(noun)\(number == 1 ? "" : "s")"
}

// MARK: - outbox

struct OutboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "Outbox rows set aside because Kafka will never accept them as they are.",
        discussion: """
            The relay sets a row aside only when Kafka refuses the row itself (too large, invalid \
            record); errors about the client or the cluster (not authorized, unknown topic, broker \
            down) are retried and never set a row aside. A set-aside row holds back the later rows \
            of its topic and key (one order's events keep their order) until it is requeued or \
            discarded; other keys keep flowing.
            """,
        subcommands: [List.self, Requeue.self, Discard.self]
    )

    struct List: RepairCommand {
        static let configuration = CommandConfiguration(abstract: "List the set-aside rows and what they hold back.")

        func run(_ context: RepairContext) async throws -> Bool {
            let rows = try await context.store.setAsideRows()
            guard !rows.isEmpty else {
                context.say("no set-aside outbox rows")
                return true
            }
            context.say("\(count(rows.count, "set-aside outbox row")):")
            for row in rows {
                context.say(
                    """
                    \(row.id)\t\(row.topic)\tkey \(row.key?.printable ?? "(none)")\tset aside \(row.failedAt)\t\
                    holds back \(count(row.heldBack, "row"))\t\(row.error)
                    """
                )
            }
            return true
        }
    }

    struct Requeue: RepairCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send set-aside rows again at the service's next start (after fixing the cause).",
            discussion: """
                Clears each row's error: at the next start the relay publishes it in id order, then \
                the rows of its key it held back. A row Kafka still refuses is set aside again.
                """
        )

        @OptionGroup var selection: Selection

        func run(_ context: RepairContext) async throws -> Bool {
            let rows = try await context.store.requeueSetAside(selection.chosen)
            if rows.isEmpty { context.say("no set-aside outbox rows") }
            for row in rows {
                context.say(
                    """
                    requeued outbox row \(row.id) (\(row.topic), key \(row.key?.printable ?? "(none)")); published at the \
                    next start, then the \(count(row.heldBack, "row")) of its key it held back
                    """
                )
            }
            return true
        }
    }

    struct Discard: RepairCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete set-aside rows: their events are never published.",
            discussion: """
                For a row that can never be sent and whose event the consumers can do without (for \
                example one replaced by a corrected event). The rows of its key it held back are \
                published at the next start. Name each row; there is no --all.
                """
        )

        @Argument(help: "The ids of the rows to discard, as `outbox list` shows them.")
        var ids: [Int64]

        func run(_ context: RepairContext) async throws -> Bool {
            for row in try await context.store.discardSetAside(ids) {
                context.say(
                    """
                    discarded outbox row \(row.id) (\(row.topic), key \(row.key?.printable ?? "(none)")): its event will \
                    never be published; the \(count(row.heldBack, "row")) of its key it held back go out at the next start
                    """
                )
            }
            return true
        }
    }
}

// MARK: - dead-letters

struct DeadLettersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Messages the service could not apply (undecodable or rejected), kept with their bytes.",
        discussion: """
            A replay runs the service's own handler on the stored message in one transaction with the \
            inbox, the outbox and the dead letter's mark, exactly as the consume loop applies a \
            message: an event is applied at most once, and a second replay says so and changes nothing.
            """,
        subcommands: [List.self, Replay.self]
    )

    struct List: RepairCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the dead letters and whether they were replayed."
        )

        func run(_ context: RepairContext) async throws -> Bool {
            let letters = try await context.store.deadLetters()
            guard !letters.isEmpty else {
                context.say("no dead letters")
                return true
            }
            context.say("\(count(letters.count, "dead letter")):")
            for letter in letters {
                let state =
                    if let at = letter.replayedAt {
                        "replayed \(at): \(letter.replayOutcome ?? "")"
                    } else if letter.hasMessage {
                        "not replayed"
                    } else {
                        "no stored message (recorded before this version): replay impossible from the store"
                    }
                context.say(
                    """
                    \(letter.id)\t\(letter.sourceTopic)[\(letter.sourcePartition)]@\(letter.sourceOffset)\t\
                    key \(letter.key?.printable ?? "(none)")\t\(letter.createdAt)\t\(state)\t\(letter.error)
                    """
                )
            }
            return true
        }
    }

    struct Replay: RepairCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply dead-lettered messages again, after the fix that makes them acceptable.",
            discussion: """
                With --all: every dead letter not replayed yet, in the order they were recorded. \
                Exits 1 when one is still rejected (that one is left as it was).
                """
        )

        @OptionGroup var selection: Selection

        func run(_ context: RepairContext) async throws -> Bool {
            var letters = try await context.store.deadLetters(selection.chosen)
            if selection.all { letters = letters.filter { $0.replayedAt == nil } }
            if letters.isEmpty { context.say("no dead letters to replay") }
            let handler = try context.makeHandler()
            var succeeded = true
            for letter in letters {
                let outcome = try await context.store.replayDeadLetter(letter.id, handler: handler)
                if case .stillRejected = outcome { succeeded = false }
                context.say(
                    "dead letter \(letter.id) (\(letter.sourceTopic)[\(letter.sourcePartition)]@\(letter.sourceOffset)): \(outcome)"
                )
            }
            return succeeded
        }
    }
}
