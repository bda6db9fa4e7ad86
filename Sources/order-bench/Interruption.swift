import UnixSignals

/// Runs `body`; SIGINT or SIGTERM cancels it and throws ``BenchError/interrupted(signal:)``, so
/// the caller still stops the platform it started (the signals are trapped meanwhile).
func untilInterrupted<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
    let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
    return try await withThrowingTaskGroup(of: Value?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            for await signal in signals {
                throw BenchError.interrupted(signal: "\(signal)")
            }
            return nil
        }
        defer { group.cancelAll() }
        while let result = try await group.next() {
            if let result { return result }
        }
        throw CancellationError()
    }
}
