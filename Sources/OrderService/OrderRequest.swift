import Foundation
import OrderEvents

// Configured once and never mutated: safe to share between requests.
private let decoder = JSONDecoder()

/// A validated `POST /order` body.
///
/// Validation is strict so that a client's mistake is reported, never guessed at: unknown
/// fields are refused, `amount` must be a JSON number > 0 with at most two decimals (kept
/// exactly), and every error names the field.
public struct OrderRequest: Sendable, Hashable {
    /// The client's id (1–64 of `[A-Za-z0-9._-]`), or nil for a generated one.
    public var orderId: String?
    /// More than zero, at most two decimals.
    public var amount: Amount
    /// A 3-letter code; ``defaultCurrency`` when the body has none.
    public var currency: String
    /// `customer.email`, when given.
    public var customerEmail: String?
    /// At most ``maximumItems`` items, each with a quantity of 1 to ``maximumQuantity``.
    public var items: [LineItem]

    /// The most items an order may have.
    public static let maximumItems = 100
    /// The largest quantity of one item.
    public static let maximumQuantity = 1_000_000
    /// The currency of an order that names none.
    public static let defaultCurrency = "USD"

    /// An already-valid request (the values are not checked again).
    public init(
        orderId: String?,
        amount: Amount,
        currency: String = OrderRequest.defaultCurrency,
        customerEmail: String? = nil,
        items: [LineItem] = []
    ) {
        self.orderId = orderId
        self.amount = amount
        self.currency = currency
        self.customerEmail = customerEmail
        self.items = items
    }

    /// Parses and validates a JSON body.
    /// - Throws: ``APIError`` with code `invalid_json`, `invalid_body`, `duplicate_field`,
    ///   `unknown_field`, `missing_field` or `invalid_field`, naming the field.
    public static func parse(_ body: [UInt8]) throws(APIError) -> OrderRequest {
        // RFC 8259 §8.1: JSON between systems is UTF-8. Foundation would also read UTF-16 and
        // UTF-32, which the duplicate-key check below cannot: refuse them, with any BOM.
        guard String(validating: body, as: UTF8.self) != nil, !body.contains(0), !body.starts(with: [0xEF, 0xBB, 0xBF])
        else {
            throw APIError(.badRequest, code: "invalid_json", message: "the body is not valid JSON in UTF-8")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(body), options: [])
        } catch {
            throw APIError(.badRequest, code: "invalid_json", message: "the body is not valid JSON")
        }
        guard json is [String: Any] else {
            throw APIError(.badRequest, code: "invalid_body", message: "the body must be a JSON object")
        }
        if hasTrailingComma(in: body) {
            throw APIError(
                .badRequest,
                code: "invalid_json",
                message: "the body is not valid JSON: a comma before } or ]"
            )
        }
        if let field = firstDuplicateKey(in: body) {
            let message = "\(field) appears more than once; send each field once"
            throw APIError(.badRequest, code: "duplicate_field", message: message, field: field)
        }
        do {
            return try decoder.decode(OrderRequest.self, from: Data(body))
        } catch let error as APIError {
            throw error
        } catch let DecodingError.typeMismatch(_, context) {
            throw APIError.invalidField(
                path(context.codingPath),
                "has the wrong type: \(expectation(context.codingPath))"
            )
        } catch let DecodingError.valueNotFound(_, context) {
            throw APIError.invalidField(
                path(context.codingPath),
                "must not be null: \(expectation(context.codingPath))"
            )
        } catch let DecodingError.keyNotFound(key, context) {
            let field = path(context.codingPath + [key])
            throw APIError(
                .badRequest,
                code: "missing_field",
                message: "\(field) is required: \(expectation(context.codingPath + [key]))",
                field: field
            )
        } catch let DecodingError.dataCorrupted(context) {
            throw APIError.invalidField(path(context.codingPath), "is invalid: \(expectation(context.codingPath))")
        } catch {
            throw APIError(.badRequest, code: "invalid_body", message: "the body could not be read: \(error)")
        }
    }

    /// The canonical form used to tell a repeat of the same order from a conflicting one.
    public var fingerprint: String {
        let items = self.items.map { "\($0.sku)*\($0.quantity)" }.joined(separator: ",")
        return "\(amount)|\(currency)|\(customerEmail ?? "")|\(items)"
    }

    static func path(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text.isEmpty ? "body" : text
    }

    static func expectation(_ keys: [any CodingKey]) -> String {
        switch keys.last?.stringValue {
        case "orderId": "a string of 1–64 characters from A-Z a-z 0-9 . _ -"
        case "amount": "a number greater than 0 with at most 2 decimal places"
        case "currency": "a 3-letter ISO 4217 code such as USD"
        case "customer": "an object with an optional email"
        case "email": "an email address"
        case "items": "an array of at most \(maximumItems) items"
        case "sku": "a string of 1–64 characters from A-Z a-z 0-9 . _ -"
        case "quantity": "a whole number from 1 to \(maximumQuantity)"
        default: keys.last?.intValue != nil ? "an object with sku and quantity" : "see the API documentation"
        }
    }
}

extension OrderRequest: Decodable {
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { return nil }
    }

    private static func refuseUnknownKeys(_ decoder: any Decoder, allowed: Set<String>) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = container.allKeys.map(\.stringValue).sorted().first(where: { !allowed.contains($0) }) {
            let field = path(decoder.codingPath + [AnyKey(stringValue: unknown)])
            throw APIError(.badRequest, code: "unknown_field", message: "\(field) is not a known field", field: field)
        }
    }

    private enum Keys: String, CodingKey { case orderId, amount, currency, customer, items }
    private enum CustomerKeys: String, CodingKey { case email }

    /// Decodes and validates a body; throws ``APIError`` naming the field at fault.
    public init(from decoder: any Decoder) throws {
        try Self.refuseUnknownKeys(decoder, allowed: ["orderId", "amount", "currency", "customer", "items"])
        let container = try decoder.container(keyedBy: Keys.self)

        if let orderId = try container.decodeIfPresent(String.self, forKey: .orderId) {
            guard OrderRequest.isIdentifier(orderId) else {
                throw APIError.invalidField("orderId", "must be \(Self.expectation([Keys.orderId]))")
            }
            self.orderId = orderId
        } else {
            self.orderId = nil
        }

        let decimal: Decimal
        do {
            decimal = try container.decode(Decimal.self, forKey: .amount)
        } catch let error as DecodingError {
            throw error
        } catch {
            // Foundation's JSONDecoder throws an internal error for a number it cannot represent
            // (1e-400), which decode(_:from:) turns into a path-less "not valid JSON".
            throw APIError.invalidField(
                "amount",
                "must be \(Self.expectation([Keys.amount])) and at most \(Amount.maximum)"
            )
        }
        guard decimal > 0, let amount = Amount(exactly: decimal) else {
            throw APIError.invalidField(
                "amount",
                "must be \(Self.expectation([Keys.amount])) and at most \(Amount.maximum)"
            )
        }
        self.amount = amount

        let currency = try container.decodeIfPresent(String.self, forKey: .currency) ?? OrderRequest.defaultCurrency
        guard currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw APIError.invalidField("currency", "must be \(Self.expectation([Keys.currency]))")
        }
        self.currency = currency

        if container.contains(.customer), try !container.decodeNil(forKey: .customer) {
            let customerDecoder = try container.superDecoder(forKey: .customer)
            guard (try? customerDecoder.container(keyedBy: AnyKey.self)) != nil else {
                throw APIError.invalidField("customer", "must be \(Self.expectation([Keys.customer]))")
            }
            try Self.refuseUnknownKeys(customerDecoder, allowed: ["email"])
            let customer = try customerDecoder.container(keyedBy: CustomerKeys.self)
            if let email = try customer.decodeIfPresent(String.self, forKey: .email) {
                guard OrderRequest.isEmail(email) else {
                    throw APIError.invalidField("customer.email", "must be \(Self.expectation([CustomerKeys.email]))")
                }
                self.customerEmail = email
            }
        }

        if container.contains(.items), try !container.decodeNil(forKey: .items) {
            var list = try container.nestedUnkeyedContainer(forKey: .items)
            if let count = list.count, count > Self.maximumItems {
                throw APIError.invalidField("items", "has \(count) items; at most \(Self.maximumItems) are allowed")
            }
            var items: [LineItem] = []
            while !list.isAtEnd {
                let index = list.currentIndex
                items.append(try list.decode(ItemBody.self).item(at: index))
            }
            self.items = items
        } else {
            self.items = []
        }
    }

    private struct ItemBody: Decodable {
        var sku: String
        var quantity: Int

        private enum Keys: String, CodingKey { case sku, quantity }

        init(from decoder: any Decoder) throws {
            guard (try? decoder.container(keyedBy: AnyKey.self)) != nil else {
                throw APIError.invalidField(
                    OrderRequest.path(decoder.codingPath),
                    "must be an object with sku and quantity"
                )
            }
            try OrderRequest.refuseUnknownKeys(decoder, allowed: ["sku", "quantity"])
            let container = try decoder.container(keyedBy: Keys.self)
            sku = try container.decode(String.self, forKey: .sku)
            do {
                quantity = try container.decode(Int.self, forKey: .quantity)
            } catch let error as DecodingError {
                throw error
            } catch {
                // Foundation's JSONDecoder throws an internal error for a number that is not an
                // Int (1.5, 1e30), which decode(_:from:) turns into a path-less "not valid JSON".
                let field = OrderRequest.path(decoder.codingPath + [Keys.quantity])
                throw APIError.invalidField(field, "must be \(OrderRequest.expectation([Keys.quantity]))")
            }
        }

        func item(at index: Int) throws -> LineItem {
            guard OrderRequest.isIdentifier(sku) else {
                throw APIError.invalidField("items[\(index)].sku", "must be \(OrderRequest.expectation([Keys.sku]))")
            }
            guard (1...OrderRequest.maximumQuantity).contains(quantity) else {
                throw APIError.invalidField(
                    "items[\(index)].quantity",
                    "must be \(OrderRequest.expectation([Keys.quantity]))"
                )
            }
            return LineItem(sku: sku, quantity: quantity)
        }
    }

    /// 1–64 of `[A-Za-z0-9._-]`: order ids and SKUs.
    public static func isIdentifier(_ text: String) -> Bool {
        (1...64).contains(text.count)
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    static func isEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return text.count <= 254 && parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".") && !text.contains(where: \.isWhitespace)
    }
}
