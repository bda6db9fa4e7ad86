import Foundation
import Kafka
import Logging
import OrderEvents

// Hosts librdkafka's mock cluster with the platform's topics so the services can be run
// without a Kafka installation. In-memory and for development only.
//
//   embedded-kafka [--brokers N] [--partitions N] [--bootstrap-file PATH]
//
// Prints the bootstrap address (and writes it to PATH when given), then serves until SIGINT
// or SIGTERM.

var logger = Logger(label: "embedded-kafka")
var brokers = 1
var partitions = 3
var bootstrapFile: String?
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--brokers": brokers = arguments.next().flatMap(Int.init) ?? brokers
    case "--partitions": partitions = arguments.next().flatMap(Int.init) ?? partitions
    case "--bootstrap-file": bootstrapFile = arguments.next()
    case "-h", "--help":
        print("usage: embedded-kafka [--brokers N] [--partitions N] [--bootstrap-file PATH]")
        exit(0)
    default:
        FileHandle.standardError.write(Data("embedded-kafka: unknown argument \(argument)\n".utf8))
        exit(64)
    }
}

let topics = Topics.defaults.allWithDeadLetters.map {
    TopicSpecification(name: $0, partitions: partitions, replicationFactor: 1)
}
let cluster: EmbeddedKafkaCluster
do {
    cluster = try EmbeddedKafkaCluster(brokers: brokers, topics: topics)
} catch {
    logger.critical("cannot start the embedded Kafka cluster: \(error)")
    exit(1)
}
logger.warning(
    "EMBEDDED KAFKA: in-memory, for development only — nothing survives a restart. Point KAFKA_BROKERS at a real cluster in production."
)
logger.info("embedded Kafka listening on \(cluster.bootstrapServers) with \(topics.count) topics")
FileHandle.standardOutput.write(Data((cluster.bootstrapServers + "\n").utf8))
if let bootstrapFile {
    try? cluster.bootstrapServers.write(toFile: bootstrapFile, atomically: true, encoding: .utf8)
}

signal(SIGINT, SIG_IGN)
signal(SIGTERM, SIG_IGN)
let stop = DispatchSemaphore(value: 0)
let sources = [SIGINT, SIGTERM].map { number in
    let source = DispatchSource.makeSignalSource(signal: number)
    source.setEventHandler { stop.signal() }
    source.resume()
    return source
}
stop.wait()
logger.info("embedded Kafka stopping")
withExtendedLifetime((cluster, sources)) {}
exit(0)
