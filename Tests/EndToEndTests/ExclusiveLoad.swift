import Testing

/// The tests that load the whole machine (hundreds of orders, two platforms at once) run one at a
/// time, whichever suite they are in: side by side on two cores they starve each other's
/// deadlines, and a test that fails for another's load says nothing.
struct ExclusiveLoad: TestTrait, TestScoping {
    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        await LoadGate.shared.enter()
        do {
            try await function()
        } catch {
            await LoadGate.shared.leave()
            throw error
        }
        await LoadGate.shared.leave()
    }
}

extension Trait where Self == ExclusiveLoad {
    /// Runs the test while no other such test runs.
    static var exclusiveLoad: Self { ExclusiveLoad() }
}

/// One holder at a time, the others waiting in order.
private actor LoadGate {
    static let shared = LoadGate()
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func enter() async {
        guard held else {
            held = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func leave() {
        if waiting.isEmpty {
            held = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}
