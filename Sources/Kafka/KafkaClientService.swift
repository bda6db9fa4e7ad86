import ServiceLifecycle

/// A Kafka client whose poll loop is its `run()`: ``KafkaProducer`` and ``KafkaConsumer``.
///
/// Nothing is polled until `run()` is called, and `run()` returns once the client is shut down.
/// In a `ServiceGroup`, `run()` ends with the group's graceful shutdown; elsewhere,
/// ``withRunningClients(_:isolation:body:)`` runs clients for the length of a scope.
public protocol KafkaClientService: Service {
    /// The poll loop of `run()`, except that the graceful shutdown of a surrounding
    /// `ServiceGroup` does not end it: only a shutdown of the client, or cancellation, does. For
    /// an owner that decides itself when the client stops (a scope, or a service that must
    /// finish its work with the client first).
    func runUntilShutdown() async throws
    /// Shuts the client down as the graceful shutdown of `run()` does (with the `shutdownTimeout`
    /// of its `init`), and returns once it is shut down or that shutdown gave up.
    func shutdownGracefully() async
}

/// Runs `clients` while `body` runs: each one's ``KafkaClientService/runUntilShutdown()`` in a
/// child task, then, once `body` returned or threw, shuts them down in reverse order (as a
/// `ServiceGroup` would: the last one first) and waits until every `run` has returned.
///
/// A graceful shutdown of a surrounding `ServiceGroup` does not stop the clients early: the
/// scope does, when `body` ends. Cancelling the calling task cancels the runs, which shuts the
/// clients down without waiting (a producer fails what is undelivered at once).
/// - Returns: what `body` returned.
/// - Throws: what a client's run threw (a consumer that could not subscribe), else what `body`
///   threw.
public func withRunningClients<Result>(
    _ clients: any KafkaClientService...,
    isolation: isolated (any Actor)? = #isolation,
    body: () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { runs in
        for client in clients {
            runs.addTask { try await client.runUntilShutdown() }
        }
        let outcome: Swift.Result<Result, any Error>
        do {
            outcome = .success(try await body())
        } catch {
            outcome = .failure(error)
        }
        for client in clients.reversed() {
            await client.shutdownGracefully()
        }
        try await runs.waitForAll()
        return try outcome.get()
    }
}
