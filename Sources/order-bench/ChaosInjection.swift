import Foundation
import Kafka
import OrderEvents
import Supervisor
#if canImport(Glibc)
import Glibc
#endif

/// What injecting one fault did: when it struck (recovery counts from there), how long the
/// platform took to be all ready again after each strike, and what it saw on the way.
struct InjectionOutcome: Sendable {
    var strikes: [ContinuousClock.Instant] = []
    /// Per strike; nil when the platform was not all ready again within the wait.
    var ready: [Duration?] = []
    var notes: [String] = []
    var problems: [String] = []
    var poisonSent = 0
    /// The services' `duplicates_skipped_total` summed just before the duplicate storm.
    var skippedBefore: Double?
}

/// Injects one fault into a running chaos row, on a schedule relative to the load's start.
struct ChaosInjection: Sendable {
    var fault: ChaosFault
    var settings: ChaosSettings
    var platform: ChaosPlatform
    var observer: ChaosObserver
    var ledger: OrderLedger
    var producer: KafkaProducer
    var loadStart: ContinuousClock.Instant
    var poisonPrefix: String

    func run() async throws -> InjectionOutcome {
        var outcome = InjectionOutcome()
        switch fault {
        case .killOrderService, .killPaymentService, .killInventoryService, .killNotificationService:
            for point in settings.points {
                try await at(point)
                await killAndAwaitReady(fault.killedService!, into: &outcome)
            }
        case .commitPublish, .relayPublishMark:
            let service = fault.killedService!
            var window: [String] = []
            for point in settings.points {
                try await at(point)
                window.append(await awaitPendingOutbox(of: service).map { String(Int($0)) } ?? "?")
                await killAndAwaitReady(service, into: &outcome)
            }
            outcome.notes.append("outbox_pending at the kills: \(window.joined(separator: ", "))")
        case .brokerDown:
            try await at(0.3)
            let before = ledger.progress.accepted
            try platform.setBroker(up: false)
            try await Task.sleep(for: settings.brokerOutage)
            let accepted = ledger.progress.accepted - before
            try platform.setBroker(up: true)
            let back = ContinuousClock.now
            outcome.strikes.append(back)
            outcome.ready.append(await platform.awaitReady(after: back))
            outcome.notes.append("\(accepted) orders accepted while the broker was down")
            if accepted == 0 { outcome.problems.append("the API accepted no order while the broker was down") }
        case .duplicateStorm:
            try await at(0.5)
            let strike = ContinuousClock.now
            let copies = observer.replayable.map { message in
                var copy = message
                copy.headers.append(KafkaHeader(name: ChaosObserver.replayHeader, string: "1"))
                return copy
            }
            let skippedBefore = await skippedRepeats()
            let failed = await producer.send(copies).count { if case .failure = $0 { true } else { false } }
            outcome.strikes.append(strike)
            outcome.ready.append(await platform.awaitReady(after: strike))
            outcome.notes.append("\(copies.count) events produced again")
            outcome.skippedBefore = skippedBefore
            if failed > 0 { outcome.problems.append("\(failed) storm copies could not be produced") }
        case .poison:
            outcome.poisonSent = try await producePoison()
            outcome.notes.append("\(outcome.poisonSent) poison messages")
        case .sigterm, .orderdKill:
            try await at(0.5)
            let orderd = platform.orderd.orderd
            let strike = ContinuousClock.now
            orderd.signal(fault == .sigterm ? SIGTERM : SIGKILL)
            let exit = await orderd.waitForExit(timeout: .seconds(45))
            outcome.notes.append("orderd: \(exit.map(String.init(describing:)) ?? "still running after 45 s")")
            if fault == .sigterm, exit != .exited(0) {
                outcome.problems.append(
                    "orderd ended with \(exit.map(String.init(describing:)) ?? "no exit") after SIGTERM"
                )
            }
            if exit == nil { orderd.signal(SIGKILL) }
            _ = await orderd.waitForExit(timeout: .seconds(5))
            let (ready, refusals) = await platform.restartOrderd(after: strike)
            outcome.strikes.append(strike)
            outcome.ready.append(ready)
            if !refusals.isEmpty {
                let reasons = Set(refusals).sorted().joined(separator: " | ")
                outcome.notes.append("orderd started again at attempt \(refusals.count + 1); before: \(reasons)")
            }
        case .ignoresSigterm:
            try await at(0.5)
            try await ignoreSigterm(into: &outcome)
        case .restartStorm:
            try await at(0.3)
            try await restartStorm(into: &outcome)
        }
        return outcome
    }

    /// The inbox repeats every service skipped so far (`duplicates_skipped_total`), nil when one
    /// of them cannot be read.
    func skippedRepeats() async -> Double? {
        var total = 0.0
        for service in PlatformConfiguration.services {
            guard let skipped = await platform.metric("duplicates_skipped_total", of: service) else { return nil }
            total += skipped
        }
        return total
    }

    /// Sleeps until `fraction` of the load's duration has passed (at once when it has).
    private func at(_ fraction: Double) async throws {
        try await Task.sleep(until: loadStart + settings.duration * fraction, clock: .continuous)
    }

    private func killAndAwaitReady(_ service: String, into outcome: inout InjectionOutcome) async {
        guard let pid = await platform.service(service)?.pid else {
            outcome.problems.append("\(service) had no process to kill")
            return
        }
        kill(pid, SIGKILL)
        let strike = ContinuousClock.now
        outcome.strikes.append(strike)
        outcome.ready.append(await platform.awaitReady(after: strike, replacing: (service, pid)))
    }

    /// Polls the service's `outbox_pending` until rows are committed and not yet marked sent
    /// (at most 2 s, the kill goes ahead anyway). - Returns: the last value read.
    private func awaitPendingOutbox(of service: String) async -> Double? {
        let deadline = ContinuousClock.now + .seconds(2)
        var pending: Double?
        repeat {
            pending = await platform.metric("outbox_pending", of: service)
            if let pending, pending > 0 { return pending }
            try? await Task.sleep(for: .milliseconds(5))
        } while ContinuousClock.now < deadline
        return pending
    }

    /// 1 % of the order rate (at least 6 over the load, two of each kind), on orders.created,
    /// for the whole load.
    private func producePoison() async throws -> Int {
        let interval = min(Duration.seconds(1 / (settings.rate * 0.01)), settings.duration / 6)
        let end = loadStart + settings.duration
        var sent = 0
        var due = loadStart + interval / 2
        while due < end {
            try await Task.sleep(until: due, clock: .continuous)
            let key = poisonPrefix + String(sent)
            let (value, type) = Self.poison(sent, key: key)
            _ = try await producer.send(
                topic: Topics.defaults.ordersCreated,
                key: Array(key.utf8),
                value: Array(value.utf8),
                headers: [KafkaHeader(name: EventHeader.eventType, string: type)]
            )
            sent += 1
            due += interval
        }
        return sent
    }

    /// Three kinds in turn: not JSON, an unknown event type, and a type payment-service does not consume.
    static func poison(_ number: Int, key: String) -> (value: String, type: String) {
        let id = UUID().uuidString.lowercased()
        let head =
            #""eventId":"\#(id)","version":1,"occurredAt":"2026-12-02T00:00:00.000Z","orderId":"\#(key)","correlationId":"\#(id)""#
        switch number % 3 {
        case 0:
            return ("\u{1}chaos poison \(number): not JSON", "OrderCreated")
        case 1:
            return (#"{\#(head),"type":"ChaosUnknown","payload":{}}"#, "ChaosUnknown")
        default:
            return (
                #"{\#(head),"type":"NotificationSent","payload":{"notificationId":"\#(id)","outcome":"COMPLETED","channel":"log"}}"#,
                "NotificationSent"
            )
        }
    }

    /// SIGSTOP (a process that cannot act on SIGTERM), then a restart through orderd, which must
    /// end it with SIGKILL after its stop timeout and start it again.
    private func ignoreSigterm(into outcome: inout InjectionOutcome) async throws {
        let service = "payment-service"
        guard let pid = await platform.service(service)?.pid else {
            outcome.problems.append("\(service) had no process to stop")
            return
        }
        kill(pid, SIGSTOP)
        await command(.restart, service, replacing: pid, into: &outcome)
        let lastExit = await platform.service(service)?.lastExit ?? "unknown"
        outcome.notes.append("the stopped process ended with \(lastExit)")
        if !lastExit.contains("KILL") {
            outcome.problems.append("the stopped \(service) ended with \(lastExit), not SIGKILL")
        }
    }

    /// Kills every new process of payment-service until orderd gives up on it (`failed`), then
    /// `orderd reset-failed`.
    private func restartStorm(into outcome: inout InjectionOutcome) async throws {
        let service = "payment-service"
        let deadline = ContinuousClock.now + .seconds(120)
        var killed: Int32?
        var kills = 0
        while true {
            guard ContinuousClock.now < deadline else {
                outcome.problems.append("\(service) was not marked failed after \(kills) kills within 120 s")
                return
            }
            let status = await platform.service(service)
            if status?.state == .failed { break }
            if let pid = status?.pid, pid != killed {
                kill(pid, SIGKILL)
                killed = pid
                kills += 1
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        outcome.notes.append("failed after \(kills) kills")
        await command(.resetFailed, service, into: &outcome)
    }

    /// An `orderd <command> <service>` as the strike; ready again once every service is, with a
    /// new process instead of `pid` when given.
    private func command(
        _ command: Supervisor.Command,
        _ service: String,
        replacing pid: Int32? = nil,
        into outcome: inout InjectionOutcome
    ) async {
        let strike = ContinuousClock.now
        do {
            _ = try await platform.control.perform(command, service: service)
        } catch {
            outcome.problems.append("orderd \(command.rawValue) \(service): \(error)")
        }
        outcome.strikes.append(strike)
        outcome.ready.append(await platform.awaitReady(after: strike, replacing: pid.map { (service, $0) }))
    }
}
