import Foundation
import Glibc
@_spi(Testing) import Kafka
import Synchronization
import Testing

@Suite("The embedded cluster's fault injection")
struct EmbeddedKafkaClusterTests {
    @Test(
        "a broker brought back up while another socket holds its port waits for the port (librdkafka would abort the process), then serves"
    )
    func upWaitsForItsPort() async throws {
        let cluster = try EmbeddedKafkaCluster(topics: [TopicSpecification(name: "up", partitions: 1)])
        let server = try #require(cluster.bootstrapServers.split(separator: ",").first)
        let port = try #require(server.split(separator: ":").last.flatMap { UInt16($0) })
        try cluster.setBroker(1, up: false)
        // The mock closes its listener on its own thread, a moment after the call.
        let deadline = ContinuousClock.now + .seconds(10)
        var squatter = ListeningSocket(port: port)
        while squatter == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            squatter = ListeningSocket(port: port)
        }
        try #require(squatter != nil, "port \(port) is free once the broker is down")
        let returned = Atomic(false)
        let up = Task.detached {
            defer { returned.store(true, ordering: .sequentiallyConsistent) }
            try cluster.setBroker(1, up: true)
        }
        try await Task.sleep(for: .milliseconds(300))
        // The port is held all this time: coming up cannot have happened.
        let cameUp = returned.load(ordering: .sequentiallyConsistent)
        #expect(!cameUp)
        squatter?.close()
        try await up.value

        let producer = try KafkaProducer(configuration: TestKafka.configuration(cluster), logger: TestKafka.logger)
        let report = try await withRunningClients(producer) {
            try await producer.send(topic: "up", key: nil, value: Array("after".utf8), headers: [])
        }
        #expect(report.offset == 0)
    }
}

/// A socket listening on 127.0.0.1:`port`, which keeps any other socket from binding it (even
/// with `SO_REUSEADDR`).
private final class ListeningSocket: Sendable {
    private let descriptor: Int32

    init?(port: UInt16) {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        // As the mock's listener does: the port's closed connections may linger in TIME_WAIT.
        var on: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard descriptor >= 0, bound, listen(descriptor, 1) == 0 else {
            Glibc.close(descriptor)
            return nil
        }
    }

    func close() {
        Glibc.close(descriptor)
    }
}
