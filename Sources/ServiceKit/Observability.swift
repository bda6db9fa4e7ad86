import Foundation
import Logging
import Metrics
import Prometheus

/// Process-wide logging and metrics set-up. Both backends can be bootstrapped once per process,
/// so ``bootstrap(label:logLevel:)`` is idempotent and returns the same registry every time.
public enum Observability {
    private static let state = BootstrapState()

    /// Logs go to standard output, one line per event with metadata, at `logLevel`; metrics go to
    /// a Prometheus registry that ``OperationsServer`` serves on `/metrics`.
    @discardableResult
    public static func bootstrap(label: String, logLevel: Logger.Level) -> PrometheusCollectorRegistry {
        state.once {
            LoggingSystem.bootstrap { _ in LineLogHandler(label: label, logLevel: logLevel) }
            let registry = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: registry)
            factory.defaultDurationHistogramBuckets = [
                .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30),
            ]
            MetricsSystem.bootstrap(factory)
            return registry
        }
    }

    /// Renders the registry in the Prometheus text format.
    public static func exposition(_ registry: PrometheusCollectorRegistry) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }
}

/// Holds the registry made by the first bootstrap.
private final class BootstrapState: Sendable {
    private let registry = LockedValue<PrometheusCollectorRegistry?>(nil)

    func once(_ make: () -> PrometheusCollectorRegistry) -> PrometheusCollectorRegistry {
        registry.withLock { current in
            if let current { return current }
            let made = make()
            current = made
            return made
        }
    }
}

import Synchronization

/// A `Mutex` in a class, so it can be shared by reference.
final class LockedValue<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        try mutex.withLock { try body(&$0) }
    }
}
