/// A librdkafka handle (`rd_kafka_t *`, `rd_kafka_mock_cluster_t *`) that may cross threads.
///
/// `@unchecked Sendable` is safe because the wrapper is an immutable value (the pointer never
/// changes after creation) and librdkafka documents every call the RDKafka layer makes through
/// these handles as thread-safe, except `rd_kafka_poll` / `rd_kafka_consumer_poll` and
/// `rd_kafka_consumer_close`, which the layer's owners call from their single poll thread
/// only. Destruction happens exactly once, in the `deinit` of the class that owns the pointer.
struct SendableOpaquePointer: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }
}
