import ArgumentParser

/// One fault of the chaos suite; ``ChaosInjection`` says how each is injected.
enum ChaosFault: String, CaseIterable, Sendable, ExpressibleByArgument {
    case killOrderService = "kill-order-service"
    case killPaymentService = "kill-payment-service"
    case killInventoryService = "kill-inventory-service"
    case killNotificationService = "kill-notification-service"
    case commitPublish = "commit-publish"
    case relayPublishMark = "relay-publish-mark"
    case brokerDown = "broker-down"
    case duplicateStorm = "duplicate-storm"
    case poison
    case sigterm
    case orderdKill = "orderd-kill"
    case ignoresSigterm = "ignores-sigterm"
    case restartStorm = "restart-storm"

    /// What `make test` runs: one kill -9, the poison and the duplicate storm.
    static let shortRun: [ChaosFault] = [.killPaymentService, .poison, .duplicateStorm]

    /// The service a kill fault kills.
    var killedService: String? {
        switch self {
        case .killOrderService, .commitPublish: "order-service"
        case .killPaymentService, .relayPublishMark, .ignoresSigterm, .restartStorm: "payment-service"
        case .killInventoryService: "inventory-service"
        case .killNotificationService: "notification-service"
        case .brokerDown, .duplicateStorm, .poison, .sigterm, .orderdKill: nil
        }
    }

    var summary: String {
        switch self {
        case .killOrderService, .killPaymentService, .killInventoryService, .killNotificationService:
            "kill -9 of \(killedService!) at 20 %, 50 % and 80 % of the load (--short: once, at 40 %)"
        case .commitPublish:
            "kill -9 of order-service while its outbox holds committed, unpublished rows (statistical: "
                + "the kill waits until outbox_pending > 0; the rows in the window are reported)"
        case .relayPublishMark:
            "kill -9 of payment-service while its relay has rows in flight (statistical: published "
                + "but unmarked rows show as republished copies on the topics)"
        case .brokerDown:
            "the broker down for 10 s (--short 3 s) at 30 % and back, the API still accepting"
        case .duplicateStorm:
            "at 50 %, every event of the run so far produced again on its topic"
        case .poison:
            "1 % poison messages (not JSON, an unknown type, a type the consumer does not take) on orders.created"
        case .sigterm:
            "SIGTERM to orderd at 50 % (exit 0 expected), then orderd started again on the same data"
        case .orderdKill:
            "SIGKILL to orderd at 50 % (its services die with it), then orderd started again"
        case .ignoresSigterm:
            "payment-service SIGSTOPped, then `orderd restart payment-service`: SIGKILL after stop_timeout"
        case .restartStorm:
            "payment-service killed -9 at every start until orderd marks it failed, then `orderd reset-failed`"
        }
    }
}
