import Testing

@testable import Kafka

@Suite("Consumer state machine")
struct ConsumerStateMachineTests {
    @Test("run() subscribes once; only the first shutdown stops the poll thread; a closed consumer answers at once")
    func shutdownIsIdempotent() {
        var machine = ConsumerStateMachine()
        #expect(machine.run() == .subscribeAndStartPollThread)
        #expect(machine.shutdown() == .stopPollThread)
        #expect(machine.shutdown() == .none)
        let exited = machine.pollThreadExited()
        #expect(exited.waiters.isEmpty && exited.run == nil)
        #expect(machine.shutdown() == .none)
        let id = machine.nextWaiterID()
        let timedOut = machine.closeWaitTimedOut(id: id)
        #expect(timedOut.waiter == nil && timedOut.run == nil)
        // run() after the close has nothing to poll: it only waits for the end, which is over.
        #expect(machine.run() == .waitForRunEnd)
        guard case .closed = machine.state else {
            Issue.record("the consumer is not closed after its poll thread exited: \(machine.state)")
            return
        }
    }

    @Test("a consumer shut down (or released) before run() starts its poll thread stopped, only to close")
    func shutdownBeforeRun() {
        var machine = ConsumerStateMachine()
        #expect(machine.shutdown() == .startStoppedPollThread)
        #expect(machine.shutdown() == .none)
        #expect(machine.run() == .waitForRunEnd)
        #expect(machine.pollThreadExited().waiters.isEmpty)
        #expect(machine.run() == .waitForRunEnd)
    }

    @Test("run() waits for the close, or ends with the first shutdown that gives up on it")
    func runEndsWithTheFirstGivenUpShutdown() async {
        let lifecycle = ClientLifecycle(ConsumerStateMachine())
        #expect(lifecycle.machine.withLock { $0.run() } == .subscribeAndStartPollThread)
        async let runEnded: Void = withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            #expect(lifecycle.machine.withLock { $0.waitForRunEnd(continuation) } == .suspend)
        }
        #expect(await registered(lifecycle) { if case .running(.waiting) = $0 { true } else { false } })
        #expect(lifecycle.machine.withLock { $0.shutdown() } == .stopPollThread)
        let id = lifecycle.machine.withLock { $0.nextWaiterID() }
        // A shutdown that gives up at once (a cancelled run()) ends run() without the close.
        let closed = await lifecycle.wait(
            timeout: .zero,
            timeoutValue: false,
            register: { machine, waiter in machine.waitForClose(id: id, waiter) == .resume ? true : nil },
            takeBack: { machine in
                let timedOut = machine.closeWaitTimedOut(id: id)
                timedOut.run?.resume()
                return timedOut.waiter
            }
        )
        #expect(closed == false)
        await runEnded
        // The close still comes, and finds no run() to resume.
        #expect(lifecycle.machine.withLock { $0.pollThreadExited() }.run == nil)
    }

    @Test("waiters are resumed once each: by the close, or by their own timeout, never both")
    func waitersResumedOnce() async {
        let lifecycle = ClientLifecycle(ConsumerStateMachine())
        #expect(lifecycle.machine.withLock { $0.run() } == .subscribeAndStartPollThread)
        #expect(lifecycle.machine.withLock { $0.shutdown() } == .stopPollThread)
        // One waiter with a zero timeout: its timer resumes it with false, the close does not.
        let early = lifecycle.machine.withLock { $0.nextWaiterID() }
        let timedOut = await lifecycle.wait(
            timeout: .zero,
            timeoutValue: false,
            register: { machine, waiter in machine.waitForClose(id: early, waiter) == .resume ? true : nil },
            takeBack: { $0.closeWaitTimedOut(id: early).waiter }
        )
        #expect(timedOut == false)
        // One waiter with a long timeout, resumed by the poll thread's exit.
        let late = lifecycle.machine.withLock { $0.nextWaiterID() }
        async let closed = lifecycle.wait(
            timeout: .seconds(60),
            timeoutValue: false,
            register: { machine, waiter in machine.waitForClose(id: late, waiter) == .resume ? true : nil },
            takeBack: { $0.closeWaitTimedOut(id: late).waiter }
        )
        let deadline = ContinuousClock.now + .seconds(10)
        var resumed: [CheckedContinuation<Bool, Never>] = []
        while resumed.isEmpty, ContinuousClock.now < deadline {
            // Exits only once the waiter is registered, so the exit is what resumes it.
            let registered = lifecycle.machine.withLock { machine -> Bool in
                if case .closing(let waiters, _) = machine.state { return waiters[late] != nil }
                return false
            }
            if registered {
                resumed = lifecycle.machine.withLock { $0.pollThreadExited() }.waiters
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
            takeBack: { $0.closeWaitTimedOut(id: after).waiter }
        )
        #expect(immediate == true)
    }
}

/// Waits (at most 10 s) until the machine's state satisfies `condition`.
private func registered(
    _ lifecycle: ClientLifecycle<ConsumerStateMachine>,
    _ condition: (ConsumerStateMachine.State) -> Bool
) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        if lifecycle.machine.withLock({ condition($0.state) }) { return true }
        await Task.yield()
    }
    return false
}
