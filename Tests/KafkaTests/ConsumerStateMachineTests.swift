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
        async let runEnded: Void = lifecycle.waitForRunEnd()
        #expect(await reached(lifecycle) { if case .running(.waiting) = $0 { true } else { false } })
        #expect(lifecycle.machine.withLock { $0.shutdown() } == .stopPollThread)
        // A shutdown that gives up at once (a cancelled run()) ends run() without the close.
        #expect(await lifecycle.waitForClose(timeout: .zero) == false)
        await runEnded
        // A later shutdown does not wait for the stuck close again (its budget is spent already).
        let began = ContinuousClock.now
        #expect(await lifecycle.waitForClose(timeout: .seconds(60)) == false)
        #expect(ContinuousClock.now - began < .seconds(30))
        // The close still comes, and finds no run() to resume.
        #expect(lifecycle.machine.withLock { $0.pollThreadExited() }.run == nil)
    }

    @Test("waiters are resumed once each: by the close, or by their own timeout, never both")
    func waitersResumedOnce() async {
        let lifecycle = ClientLifecycle(ConsumerStateMachine())
        #expect(lifecycle.machine.withLock { $0.run() } == .subscribeAndStartPollThread)
        #expect(lifecycle.machine.withLock { $0.shutdown() } == .stopPollThread)
        // One waiter with a long timeout, resumed by the poll thread's exit.
        async let closed = lifecycle.waitForClose(timeout: .seconds(60))
        #expect(await reached(lifecycle) { if case .closing(let waiters, _) = $0 { !waiters.isEmpty } else { false } })
        // One waiter with a zero timeout, registered after it: its timer resumes it with false,
        // the close does not; the first waiter stays registered.
        #expect(await lifecycle.waitForClose(timeout: .zero) == false)
        let resumed = lifecycle.machine.withLock { $0.pollThreadExited() }.waiters
        #expect(resumed.count == 1)
        for waiter in resumed { waiter.resume(returning: true) }
        #expect(await closed == true)
        // After the close, a new waiter returns at once, without waiting for its timeout.
        #expect(await lifecycle.waitForClose(timeout: .seconds(60)) == true)
    }
}

/// Waits (at most 60 s: at the start of a full run on two cores the test tasks can go unscheduled
/// for over 10 s) until the machine's state satisfies `condition`.
private func reached(
    _ lifecycle: ClientLifecycle<ConsumerStateMachine>,
    _ condition: (ConsumerStateMachine.State) -> Bool
) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
        if lifecycle.machine.withLock({ condition($0.state) }) { return true }
        // A short sleep, not a yield: a yield loop keeps a cooperative thread busy, and on two
        // cores under a full test run the task this waits for could not run (seen once).
        try? await Task.sleep(for: .milliseconds(2))
    }
    return false
}

@Suite("Consumer flow control: pause while the buffer is full, resume at the low-water mark")
struct ConsumerFlowControlTests {
    typealias Flow = ConsumerStateMachine.FlowControl
    let p0 = TopicPartition(topic: "t", partition: 0)
    let p1 = TopicPartition(topic: "t", partition: 1)
    let p2 = TopicPartition(topic: "t", partition: 2)

    @Test("the assignment is paused once at capacity; messages in flight only fill the buffer; resumed at half")
    func pauseAtCapacityResumeAtLowWater() {
        var flow = Flow(capacity: 4)
        #expect(flow.lowWater == 2)
        #expect(flow.assigned([p0, p1]) == .none)
        #expect(flow.buffered(3) == .none)
        #expect(flow.buffered(4) == .pause([p0, p1]))
        // Fetched before the pause took effect: buffered above the cap, no second pause.
        #expect(flow.buffered(5) == .none)
        #expect(flow.buffered(6) == .none)
        #expect(flow.drained(to: 3) == .none)
        #expect(flow.drained(to: 2) == .resume([p0, p1]))
        #expect(flow.state == .flowing)
        #expect(flow.drained(to: 0) == .none)
        #expect(flow.buffered(4) == .pause([p0, p1]))
    }

    @Test("partitions assigned while paused are paused too, even ones paused before their revocation")
    func assignedWhilePaused() {
        var flow = Flow(capacity: 2)
        #expect(flow.assigned([p0]) == .none)
        #expect(flow.buffered(2) == .pause([p0]))
        // Cooperative: an incremental assignment.
        #expect(flow.assigned([p1]) == .pause([p1]))
        // Eager: everything revoked, then everything assigned again (librdkafka forgot the pause).
        flow.revoked([p0, p1])
        #expect(flow.state == .paused([]))
        #expect(flow.assigned([p0, p1, p2]) == .pause([p0, p1, p2]))
        #expect(flow.drained(to: 1) == .resume([p0, p1, p2]))
    }

    @Test("a revoked partition is never resumed; a pause with nothing assigned still pauses the machine")
    func nothingStaleResumed() {
        var flow = Flow(capacity: 2)
        #expect(flow.assigned([p0, p1]) == .none)
        #expect(flow.buffered(2) == .pause([p0, p1]))
        flow.revoked([p1])
        #expect(flow.assignment == [p0])
        #expect(flow.drained(to: 0) == .resume([p0]))
        flow.revoked([p0])
        #expect(flow.buffered(2) == .pause([]))
        #expect(flow.isPaused)
        #expect(flow.assigned([p2]) == .pause([p2]))
        #expect(flow.drained(to: 1) == .resume([p2]))
        #expect(!flow.isPaused)
        // Flowing, an assignment pauses nothing.
        #expect(flow.assigned([p1]) == .none)
    }

    @Test("a buffer of one pauses at one message and resumes when it is empty")
    func capacityOne() {
        var flow = Flow(capacity: 1)
        #expect(flow.lowWater == 0)
        _ = flow.assigned([p0])
        #expect(flow.buffered(1) == .pause([p0]))
        #expect(flow.drained(to: 1) == .none)
        #expect(flow.drained(to: 0) == .resume([p0]))
    }
}
