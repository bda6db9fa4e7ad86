import Testing

@testable import Kafka

@Suite("Consumer state machine")
struct ConsumerStateMachineTests {
    @Test("only the first shutdown stops the poll thread; later ones just wait; a closed consumer answers at once")
    func shutdownIsIdempotent() {
        var machine = ConsumerStateMachine()
        #expect(machine.shutdown() == .stopPollThread)
        #expect(machine.shutdown() == .none)
        #expect(machine.pollThreadExited().isEmpty)
        #expect(machine.shutdown() == .none)
        let id = machine.nextWaiterID()
        #expect(machine.closeWaitTimedOut(id: id) == nil)
        guard case .closed = machine.state else {
            Issue.record("the consumer is not closed after its poll thread exited: \(machine.state)")
            return
        }
    }

    @Test("waiters are resumed once each: by the close, or by their own timeout, never both")
    func waitersResumedOnce() async {
        let lifecycle = ClientLifecycle(ConsumerStateMachine())
        #expect(lifecycle.machine.withLock { $0.shutdown() } == .stopPollThread)
        // One waiter with a zero timeout: its timer resumes it with false, the close does not.
        let early = lifecycle.machine.withLock { $0.nextWaiterID() }
        let timedOut = await lifecycle.wait(
            timeout: .zero,
            timeoutValue: false,
            register: { machine, waiter in machine.waitForClose(id: early, waiter) == .resume ? true : nil },
            takeBack: { $0.closeWaitTimedOut(id: early) }
        )
        #expect(timedOut == false)
        // One waiter with a long timeout, resumed by the poll thread's exit.
        let late = lifecycle.machine.withLock { $0.nextWaiterID() }
        async let closed = lifecycle.wait(
            timeout: .seconds(60),
            timeoutValue: false,
            register: { machine, waiter in machine.waitForClose(id: late, waiter) == .resume ? true : nil },
            takeBack: { $0.closeWaitTimedOut(id: late) }
        )
        let deadline = ContinuousClock.now + .seconds(10)
        var resumed: [CheckedContinuation<Bool, Never>] = []
        while resumed.isEmpty, ContinuousClock.now < deadline {
            // Exits only once the waiter is registered, so the exit is what resumes it.
            let registered = lifecycle.machine.withLock { machine -> Bool in
                if case .closing(let waiters) = machine.state { return waiters[late] != nil }
                return false
            }
            if registered {
                resumed = lifecycle.machine.withLock { $0.pollThreadExited() }
            } else {
                await Task.yield()
            }
        }
        #expect(resumed.count == 1)
        for waiter in resumed { waiter.resume(returning: true) }
        #expect(await closed == true)
        // After the close, a new waiter returns at once, without waiting for its timeout.
        let after = lifecycle.machine.withLock { $0.nextWaiterID() }
        let immediate = await lifecycle.wait(
            timeout: .seconds(60),
            timeoutValue: false,
            register: { machine, waiter in machine.waitForClose(id: after, waiter) == .resume ? true : nil },
            takeBack: { $0.closeWaitTimedOut(id: after) }
        )
        #expect(immediate == true)
    }
}
