@_spi(Testing) @testable import Kafka
import Testing

@Suite("What a publisher does with a failed message")
struct PublishFailureTests {
    @Test("the codes mapped are librdkafka's own: each number has the name the table gives it")
    func codesAreLibrdkafkas() {
        for (code, name) in KafkaError.messageRejectionCodes.merging(
            KafkaError.clientFailureCodes,
            uniquingKeysWith: { a, _ in a }
        ) {
            #expect(KafkaError.name(code: code) == name)
        }
        #expect(Set(KafkaError.messageRejectionCodes.keys).isDisjoint(with: KafkaError.clientFailureCodes.keys))
    }

    @Test(
        "only a fault of the message itself sets it aside",
        arguments: [(10, "MSG_SIZE_TOO_LARGE"), (87, "INVALID_RECORD")]
    )
    func messageFaultsSetAside(code: Int32, name: String) {
        #expect(KafkaError.name(code: code) == name)
        let error = KafkaError.delivery(code: code, reason: name, transient: KafkaError.isTransient(code: code))
        #expect(error.publishFailure == .setAside)
        #expect(!error.isTransient)
    }

    @Test(
        "a fault of the client or the cluster is retried, never set aside",
        arguments: [
            (29, "TOPIC_AUTHORIZATION_FAILED"), (31, "CLUSTER_AUTHORIZATION_FAILED"), (3, "UNKNOWN_TOPIC_OR_PART"),
            (-188, "_UNKNOWN_TOPIC"), (-192, "_MSG_TIMED_OUT"), (-195, "_TRANSPORT"), (-184, "_QUEUE_FULL"),
            (-152, "_PURGE_QUEUE"), (-151, "_PURGE_INFLIGHT"), (-186, "_INVALID_ARG"), (7, "REQUEST_TIMED_OUT"),
            (6, "NOT_LEADER_FOR_PARTITION"), (2, "INVALID_MSG"), (18, "RECORD_LIST_TOO_LARGE"),
        ]
    )
    func clientFaultsRetry(code: Int32, name: String) {
        #expect(KafkaError.name(code: code) == name)
        let error = KafkaError.delivery(code: code, reason: name, transient: KafkaError.isTransient(code: code))
        #expect(error.publishFailure == .retry)
        #expect(error.isTransient)
    }

    @Test("a client that cannot go on stops the publisher")
    func clientFailuresStop() {
        for code: Int32 in [-150, -197] {
            let error = KafkaError.delivery(code: code, reason: "", transient: KafkaError.isTransient(code: code))
            #expect(error.publishFailure == .stop)
        }
        // The idempotent producer's fatal error keeps its underlying code (here a sequence gap).
        #expect(KafkaError.delivery(code: 45, reason: "fatal", transient: false).publishFailure == .stop)
        #expect(KafkaError.shutDown.publishFailure == .stop)
        #expect(KafkaError.skipped.publishFailure == .retry)
    }
}
