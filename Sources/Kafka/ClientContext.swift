import CRdKafka
import Foundation
import Logging
import Synchronization

/// State that librdkafka's C callbacks reach through the client's opaque pointer.
///
/// Callbacks run on librdkafka's threads or on the client's poll thread, so everything here is
/// either immutable or guarded by its own lock.
final class ClientContext: Sendable {
    let logger: Logger
    let statistics: KafkaStatisticsRecorder
    /// Set by consumers: handles partition assignment and revocation on the poll thread.
    let rebalance: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Void)?

    init(
        logger: Logger,
        statistics: KafkaStatisticsRecorder,
        rebalance: (@Sendable (OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> Void)? = nil
    ) {
        self.logger = logger
        self.statistics = statistics
        self.rebalance = rebalance
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> ClientContext? {
        opaque.map { Unmanaged<ClientContext>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// Collects the delivery reports of one ``KafkaProducer/send(_:)`` call and resumes its
/// continuation once every message has a result.
final class DeliveryBatch: Sendable {
    private struct State {
        var results: [Result<DeliveryReport, KafkaError>?]
        var remaining: Int
        var continuation: CheckedContinuation<[Result<DeliveryReport, KafkaError>], Never>?
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count))
    }

    func onComplete(_ continuation: CheckedContinuation<[Result<DeliveryReport, KafkaError>], Never>) {
        state.withLock { $0.continuation = continuation }
    }

    func complete(_ index: Int, with result: Result<DeliveryReport, KafkaError>) {
        let finished = state.withLock { state -> (CheckedContinuation<[Result<DeliveryReport, KafkaError>], Never>, [Result<DeliveryReport, KafkaError>])? in
            guard state.results[index] == nil else { return nil }
            state.results[index] = result
            state.remaining -= 1
            guard state.remaining == 0, let continuation = state.continuation else { return nil }
            state.continuation = nil
            return (continuation, state.results.map { $0! })
        }
        if let (continuation, results) = finished { continuation.resume(returning: results) }
    }

    /// Fails message `index` with `error` and every later one as ``KafkaError/skipped``.
    func failRemaining(from index: Int, with error: KafkaError) {
        let count = state.withLock { $0.results.count }
        for position in index..<count { complete(position, with: .failure(position == index ? error : .skipped)) }
    }
}

/// One message's place in its ``DeliveryBatch``, passed through librdkafka as the message opaque.
final class DeliverySlot: Sendable {
    let batch: DeliveryBatch
    let index: Int

    init(batch: DeliveryBatch, index: Int) {
        self.batch = batch
        self.index = index
    }
}

/// Where a produced message landed.
public struct DeliveryReport: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
}
