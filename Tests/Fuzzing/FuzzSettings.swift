import Foundation

/// How many inputs a campaign tries and from which seed, from the environment:
/// `FUZZ_ITERATIONS` (a count, for every campaign of the run) and `FUZZ_SEED` (decimal, or hex
/// with `0x`). Unset, a campaign tries its own short default from ``defaultSeed``, which is
/// what `make test` runs.
public struct FuzzSettings: Sendable, Hashable {
    /// The seed of every run that does not set `FUZZ_SEED`.
    public static let defaultSeed: UInt64 = 0x5EED_F00D

    public var iterations: Int
    public var seed: UInt64

    public init(iterations: Int, seed: UInt64) {
        self.iterations = iterations
        self.seed = seed
    }

    /// The settings `environment` asks for; `defaultIterations` when it names no count.
    /// A value that is not a number is a programming error of whoever ran the tests: it traps
    /// with the variable's name rather than silently running the default.
    public static func fromEnvironment(
        defaultIterations: Int,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> FuzzSettings {
        var settings = FuzzSettings(iterations: defaultIterations, seed: defaultSeed)
        if let text = environment["FUZZ_ITERATIONS"], !text.isEmpty {
            guard let count = Int(text), count >= 0 else { fatalError("FUZZ_ITERATIONS=\(text) is not a count") }
            settings.iterations = count
        }
        if let text = environment["FUZZ_SEED"], !text.isEmpty {
            let parsed = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
            guard let seed = parsed else { fatalError("FUZZ_SEED=\(text) is not a decimal or 0x-hex number") }
            settings.seed = seed
        }
        return settings
    }
}
