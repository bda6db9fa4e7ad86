/// Fault injection by result code, for tests of how clients handle a cluster that refuses them.
extension EmbeddedKafkaCluster {
    /// The Kafka protocol's API key of produce requests, for ``pushRequestErrors(apiKey:codes:)``.
    @_spi(Testing)
    public static let produceAPIKey: Int16 = 0

    /// Makes the next `codes.count` requests of API `apiKey` (any broker) fail with these
    /// librdkafka result codes, one each, in order; later requests succeed again.
    @_spi(Testing)
    public func pushRequestErrors(apiKey: Int16, codes: [Int32]) {
        cluster.pushRequestErrors(apiKey: apiKey, codes: codes)
    }
}
