import OrderEvents

/// Parsing of `INVENTORY_STOCK` and the all-or-nothing reservation rule.
public enum StockLedger {
    /// The stock seeded when `INVENTORY_STOCK` is unset.
    public static let defaultStock = "SKU-1=1000,SKU-2=1000,SKU-3=1000,WIDGET=100,GADGET=10"

    /// Parses `sku=qty,sku=qty`. Returns nil with the offending entry when malformed.
    public static func parse(_ text: String) -> Result<[String: Int], StockParseError> {
        var stock: [String: Int] = [:]
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "=", omittingEmptySubsequences: false)
            guard parts.count == 2, let quantity = Int(parts[1].trimmingCharacters(in: .whitespaces)), quantity >= 0
            else {
                return .failure(StockParseError(entry: entry))
            }
            let sku = parts[0].trimmingCharacters(in: .whitespaces)
            guard (1...64).contains(sku.count),
                sku.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }),
                stock[sku] == nil
            else { return .failure(StockParseError(entry: entry)) }
            stock[sku] = quantity
        }
        return .success(stock)
    }

    public struct StockParseError: Error, Sendable, Hashable {
        public var entry: String
    }

    public enum Plan: Sendable, Hashable {
        /// Take these quantities (per SKU, summed over the order's lines).
        case reserve([String: Int])
        /// Reserve nothing: these SKUs are unknown or short (sorted).
        case reject([String])
    }

    /// All or nothing: every SKU must be known and have enough stock for the sum of its lines.
    /// An order without items reserves nothing and succeeds.
    public static func plan(_ items: [LineItem], available: [String: Int]) -> Plan {
        var needed: [String: Int] = [:]
        for item in items { needed[item.sku, default: 0] += item.quantity }
        let short = needed.filter { sku, quantity in (available[sku] ?? -1) < quantity }.keys.sorted()
        return short.isEmpty ? .reserve(needed) : .reject(short)
    }
}
