import Logging

/// One log line per event, message first so an operator reads what happened before the
/// details: `2026-11-26T01:16:08.123Z info payment-service: processed payment … orderId=o1`.
///
/// - One event, one line: control characters in the message, in metadata keys and in values
///   (a newline in an order id, say) are escaped (`\n`, `\r`, `\t`, `\u{1B}`, `\u{2028}`), so
///   input cannot forge a line. Values that are empty or hold a space, `"` or `=` are quoted,
///   with `"` written `\"`. Metadata is sorted by key.
/// - Cheap and never blocking: the line is rendered on the calling thread and handed to a
///   ``LogSink`` (by default ``LogSink/standardOutput``), which writes it from its own thread.
///   Lines from concurrent tasks never interleave, and each task's lines keep their order.
///   When the output does not keep up, lines are dropped and counted rather than waited for.
/// - Lines still buffered when the process exits are lost unless ``flush(timeout:)`` is called.
public struct LineLogHandler: LogHandler {
    /// Events below this level are dropped before rendering.
    public var logLevel: Logger.Level
    /// Metadata on every line of this handler; an event's own metadata wins on a clash.
    public var metadata: Logger.Metadata = [:]
    /// Metadata added to every line, between ``metadata`` and the event's own.
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let sink: LogSink

    /// A handler writing lines labelled `label` (the service name) to `sink`.
    public init(label: String, logLevel: Logger.Level, sink: LogSink = .standardOutput) {
        self.label = label
        self.logLevel = logLevel
        self.sink = sink
    }

    /// One entry of ``metadata``.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Blocks until the lines logged to standard output so far are written, or `timeout` passes;
    /// call it right before the process exits. Returns `false` on timeout (a reader not reading).
    @discardableResult
    public static func flush(timeout: Duration) -> Bool {
        LogSink.standardOutput.flush(timeout: timeout)
    }

    /// Renders `event` as one line and hands it to the sink; never blocks on the output.
    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty { merged.merge(provided) { $1 } }
        if let extra = event.metadata, !extra.isEmpty {
            if merged.isEmpty { merged = extra } else { merged.merge(extra) { $1 } }
        }
        let line = LogLine.render(
            millisecondsSinceEpoch: LogLine.now(),
            level: event.level,
            label: label,
            message: event.message.description,
            metadata: merged
        )
        sink.append(line, label: label)
    }
}
