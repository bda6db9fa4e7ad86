import OrderEvents
import Testing
@testable import OrderService

/// The expected decision for every (status × fact) pair, written from the design:
///
///     PENDING ─paid─▶ PAID ─reserved─▶ RESERVED ─notified(completed)─▶ COMPLETED
///     PENDING ─declined─▶ CANCELLED(payment_declined)
///     PAID ─rejected─▶ CANCELLED(out_of_stock), followed by a refund
///
/// order-service reads several topics, so a fact can arrive before the fact that causes it;
/// such a fact is postponed. A fact that can never apply from a status is refused.
@Suite("OrderStateMachine.decide")
struct OrderStateMachineTests {
    typealias Decision = OrderStateMachine.Decision

    static let facts: [OrderFact] = [
        .paid, .declined, .reserved, .rejected, .notified(.completed), .notified(.cancelled), .refunded,
    ]

    struct Row: Sendable, CustomTestStringConvertible {
        var status: OrderStatus
        var fact: OrderFact
        var expected: Decision
        var testDescription: String { "\(status.rawValue) + \(fact) → \(expected)" }
    }

    static let table: [Row] = {
        func row(_ status: OrderStatus, _ fact: OrderFact, _ expected: Decision) -> Row {
            Row(status: status, fact: fact, expected: expected)
        }
        return [
            // PENDING: only payment decides; everything downstream of payment is early.
            row(.pending, .paid, .transition(to: .paid, reason: nil)),
            row(.pending, .declined, .transition(to: .cancelled, reason: .paymentDeclined)),
            row(.pending, .reserved, .postpone),  // needs paid first
            row(.pending, .rejected, .postpone),  // needs paid first
            row(.pending, .notified(.completed), .postpone),  // needs paid + reserved
            row(.pending, .notified(.cancelled), .postpone),  // needs declined or paid + rejected
            row(.pending, .refunded, .postpone),  // needs paid + rejected

            // PAID: payment is settled; inventory decides.
            row(.paid, .paid, .refuse),  // payment is decided once
            row(.paid, .declined, .refuse),  // a charged payment cannot be declined
            row(.paid, .reserved, .transition(to: .reserved, reason: nil)),
            row(.paid, .rejected, .transition(to: .cancelled, reason: .outOfStock)),
            row(.paid, .notified(.completed), .postpone),  // needs reserved
            row(.paid, .notified(.cancelled), .postpone),  // needs rejected
            row(.paid, .refunded, .postpone),  // the refund follows the rejection

            // RESERVED: only the completion notice moves it.
            row(.reserved, .paid, .refuse),
            row(.reserved, .declined, .refuse),
            row(.reserved, .reserved, .refuse),
            row(.reserved, .rejected, .refuse),  // inventory decided already
            row(.reserved, .notified(.completed), .transition(to: .completed, reason: nil)),
            row(.reserved, .notified(.cancelled), .refuse),  // a reserved order is never cancelled
            row(.reserved, .refunded, .refuse),  // nothing to refund for a reserved order

            // COMPLETED: terminal, nothing applies.
            row(.completed, .paid, .refuse),
            row(.completed, .declined, .refuse),
            row(.completed, .reserved, .refuse),
            row(.completed, .rejected, .refuse),
            row(.completed, .notified(.completed), .refuse),
            row(.completed, .notified(.cancelled), .refuse),
            row(.completed, .refunded, .refuse),

            // CANCELLED: terminal; its notice and refund are acknowledged, nothing else applies.
            row(.cancelled, .paid, .refuse),
            row(.cancelled, .declined, .refuse),
            row(.cancelled, .reserved, .refuse),
            row(.cancelled, .rejected, .refuse),
            row(.cancelled, .notified(.completed), .refuse),
            row(.cancelled, .notified(.cancelled), .acknowledge),
            row(.cancelled, .refunded, .acknowledge),
        ]
    }()

    @Test("the expected table covers every status × fact pair exactly once")
    func tableIsComplete() {
        #expect(Self.table.count == OrderStatus.allCases.count * Self.facts.count)
        #expect(Self.table.count == 35)
        for status in OrderStatus.allCases {
            for fact in Self.facts {
                let matches = Self.table.filter { $0.status == status && $0.fact == fact }
                #expect(matches.count == 1, "\(status.rawValue) + \(fact) appears \(matches.count) times")
            }
        }
    }

    @Test("decide matches the expected table", arguments: table)
    func decide(row: Row) {
        #expect(OrderStateMachine.decide(row.status, row.fact) == row.expected)
    }

    @Test("only the five designed transitions move an order")
    func transitionsAreExactlyTheDesignedOnes() {
        var transitions: [String] = []
        for status in OrderStatus.allCases {
            for fact in Self.facts {
                if case .transition(let next, let reason) = OrderStateMachine.decide(status, fact) {
                    transitions.append("\(status.rawValue)-\(fact)->\(next.rawValue)(\(reason?.rawValue ?? "-"))")
                }
            }
        }
        #expect(
            transitions.sorted() == [
                "PAID-rejected->CANCELLED(out_of_stock)",
                "PAID-reserved->RESERVED(-)",
                "PENDING-declined->CANCELLED(payment_declined)",
                "PENDING-paid->PAID(-)",
                "RESERVED-notified (completed)->COMPLETED(-)",
            ]
        )
    }

    @Test("terminal statuses never transition or postpone", arguments: [OrderStatus.completed, .cancelled])
    func terminalStatusesAreFinal(status: OrderStatus) {
        #expect(status.isTerminal)
        for fact in Self.facts {
            let decision = OrderStateMachine.decide(status, fact)
            #expect(decision == .refuse || decision == .acknowledge, "\(status.rawValue) + \(fact) gave \(decision)")
        }
    }

    @Test("a transition never leads backwards in the flow")
    func transitionsMoveForward() {
        let rank: [OrderStatus: Int] = [.pending: 0, .paid: 1, .reserved: 2, .completed: 3, .cancelled: 3]
        for status in OrderStatus.allCases {
            for fact in Self.facts {
                if case .transition(let next, let reason) = OrderStateMachine.decide(status, fact) {
                    #expect(rank[next]! > rank[status]!)
                    #expect((next == .cancelled) == (reason != nil), "a reason is given exactly when cancelling")
                }
            }
        }
    }

    @Test("every postponed fact becomes applicable after the designed path")
    func postponedFactsEventuallyApply() throws {
        // Following the designed transitions from a status, a postponed fact must eventually
        // be decided (transition or acknowledge) rather than stay parked forever.
        let paths: [OrderFact: [OrderFact]] = [
            .reserved: [.paid],
            .rejected: [.paid],
            .notified(.completed): [.paid, .reserved],
            .notified(.cancelled): [.paid, .rejected],
            .refunded: [.paid, .rejected],
        ]
        for status in OrderStatus.allCases {
            for fact in Self.facts where OrderStateMachine.decide(status, fact) == .postpone {
                var current = status
                for step in try #require(paths[fact]) {
                    if case .transition(let next, _) = OrderStateMachine.decide(current, step) { current = next }
                }
                let final = OrderStateMachine.decide(current, fact)
                let applies: Bool =
                    switch final {
                    case .transition, .acknowledge: true
                    case .postpone, .refuse: false
                    }
                #expect(applies, "\(fact) postponed at \(status.rawValue) is \(final) at \(current.rawValue)")
            }
        }
    }

    @Test("OrderFact is derived from each tracked event type")
    func factsFromPayloads() {
        let amount = Amount(exactly: "1")!
        #expect(
            OrderFact(
                .paymentCompleted(
                    PaymentCompleted(paymentId: "p", amount: amount, currency: "USD", customerEmail: nil, items: [])
                )
            ) == .paid
        )
        #expect(
            OrderFact(
                .paymentFailed(
                    PaymentFailed(
                        reason: .paymentDeclined,
                        amount: amount,
                        currency: "USD",
                        customerEmail: nil,
                        detail: ""
                    )
                )
            ) == .declined
        )
        #expect(
            OrderFact(
                .paymentRefunded(PaymentRefunded(paymentId: "p", amount: amount, currency: "USD", reason: .outOfStock))
            ) == .refunded
        )
        #expect(OrderFact(.inventoryReserved(InventoryReserved(items: [], customerEmail: nil))) == .reserved)
        #expect(
            OrderFact(.inventoryRejected(InventoryRejected(reason: .outOfStock, unavailable: [], customerEmail: nil)))
                == .rejected
        )
        #expect(
            OrderFact(
                .notificationSent(
                    NotificationSent(
                        notificationId: "n",
                        outcome: .completed,
                        reason: nil,
                        channel: "log",
                        recipient: nil
                    )
                )
            ) == .notified(.completed)
        )
        #expect(
            OrderFact(
                .notificationSent(
                    NotificationSent(
                        notificationId: "n",
                        outcome: .cancelled,
                        reason: .outOfStock,
                        channel: "log",
                        recipient: nil
                    )
                )
            ) == .notified(.cancelled)
        )
        #expect(
            OrderFact(.orderCreated(OrderCreated(amount: amount, currency: "USD", customerEmail: nil, items: [])))
                == nil
        )
    }
}
