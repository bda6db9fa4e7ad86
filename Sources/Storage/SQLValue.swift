import Foundation

/// One value bound to a statement or read from a row, in the types both backends store: the
/// platform's columns are text, 64-bit integers, reals and bytes (SQLite's storage classes;
/// PostgreSQL's `text`, `bigint`, `double precision` and `bytea`).
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift type that is stored as one ``SQLValue``.
///
/// Decoding is strict: a column of another type is a ``SQLValueMismatch``, never a silent
/// conversion (a text column read as an integer is a schema error, not a zero).
public protocol SQLValueConvertible: Sendable {
    /// The value bound for `self`.
    var sqlValue: SQLValue { get }
    /// `value` as `Self`; nil when it is of another type (or null, unless `Self` is optional).
    init?(sqlValue value: SQLValue)
}

extension String: SQLValueConvertible {
    public var sqlValue: SQLValue { .text(self) }
    public init?(sqlValue value: SQLValue) {
        guard case .text(let text) = value else { return nil }
        self = text
    }
}

extension Int64: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(self) }
    public init?(sqlValue value: SQLValue) {
        guard case .integer(let integer) = value else { return nil }
        self = integer
    }
}

extension Int: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
    public init?(sqlValue value: SQLValue) {
        guard case .integer(let integer) = value, let exact = Int(exactly: integer) else { return nil }
        self = exact
    }
}

extension Int32: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
    public init?(sqlValue value: SQLValue) {
        guard case .integer(let integer) = value, let exact = Int32(exactly: integer) else { return nil }
        self = exact
    }
}

extension Double: SQLValueConvertible {
    public var sqlValue: SQLValue { .real(self) }
    public init?(sqlValue value: SQLValue) {
        guard case .real(let real) = value else { return nil }
        self = real
    }
}

/// Stored as the integer 0 or 1 (SQLite has no boolean; the platform's PostgreSQL schema uses
/// integers for the same columns, so one query reads both).
extension Bool: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    public init?(sqlValue value: SQLValue) {
        guard case .integer(let integer) = value else { return nil }
        self = integer != 0
    }
}

extension Data: SQLValueConvertible {
    public var sqlValue: SQLValue { .blob(Array(self)) }
    public init?(sqlValue value: SQLValue) {
        guard case .blob(let bytes) = value else { return nil }
        self = Data(bytes)
    }
}

/// Bytes; `[UInt8]` is what Kafka messages carry.
extension Array: SQLValueConvertible where Element == UInt8 {
    public var sqlValue: SQLValue { .blob(self) }
    public init?(sqlValue value: SQLValue) {
        guard case .blob(let bytes) = value else { return nil }
        self = bytes
    }
}

extension Optional: SQLValueConvertible where Wrapped: SQLValueConvertible {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
    public init?(sqlValue value: SQLValue) {
        if case .null = value {
            self = .none
        } else if let wrapped = Wrapped(sqlValue: value) {
            self = .some(wrapped)
        } else {
            return nil
        }
    }
}

extension SQLValue: SQLValueConvertible {
    public var sqlValue: SQLValue { self }
    public init?(sqlValue value: SQLValue) { self = value }
}

/// The values bound to a statement's `?` placeholders, in order: an array literal of any
/// ``SQLValueConvertible`` values (`nil` binds null).
public struct SQLArguments: Sendable, Hashable, ExpressibleByArrayLiteral {
    /// The values, one per placeholder.
    public var values: [SQLValue]

    /// Arguments from values already converted.
    public init(_ values: [SQLValue]) {
        self.values = values
    }

    /// `[orderId, amount, nil]`.
    public init(arrayLiteral elements: (any SQLValueConvertible)?...) {
        values = elements.map { $0?.sqlValue ?? .null }
    }

    /// `?, ?, ?` for `count` placeholders.
    public static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }
}

/// A column held a value of another type than the one read: the schema and the code disagree.
public struct SQLValueMismatch: Error, Sendable, CustomStringConvertible {
    /// The column's name, or its position as `#2`.
    public var column: String
    /// The type the code asked for.
    public var expected: String
    /// What the column held (its type, never its contents).
    public var found: String

    public var description: String {
        "column \(column) holds \(found), not \(expected): the database schema does not match this version"
    }
}

extension SQLValue {
    /// The value's type for messages (never its contents: a message may be logged).
    var typeName: String {
        switch self {
        case .null: "null"
        case .integer: "an integer"
        case .real: "a real"
        case .text: "text"
        case .blob: "bytes"
        }
    }
}
