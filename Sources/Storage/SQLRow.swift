/// One row of a query's result: its values by column name or position.
///
/// Column names are as the database reports them (the platform's schema uses lower-case
/// names, which both backends report alike); read an expression such as `COUNT(*)` by position.
public struct SQLRow: Sendable, Hashable {
    /// The column names, in the query's order.
    public let columns: [String]
    /// The values, one per column.
    public let values: [SQLValue]

    /// A row of `values` named by `columns` (equal counts).
    public init(columns: [String], values: [SQLValue]) {
        precondition(columns.count == values.count, "a row needs one name per value")
        self.columns = columns
        self.values = values
    }

    /// The value of the column named `name`, as `T`.
    /// - Throws: ``SQLValueMismatch`` when there is no such column or it holds another type.
    public subscript<T: SQLValueConvertible>(_ name: String) -> T {
        get throws {
            guard let index = columns.firstIndex(of: name) else {
                throw SQLValueMismatch(column: name, expected: "\(T.self)", found: "no such column")
            }
            return try decode(at: index, column: name)
        }
    }

    /// The value at `position` (from 0), as `T`.
    /// - Throws: ``SQLValueMismatch`` when the row is shorter or the column holds another type.
    public subscript<T: SQLValueConvertible>(_ position: Int) -> T {
        get throws {
            guard values.indices.contains(position) else {
                throw SQLValueMismatch(column: "#\(position)", expected: "\(T.self)", found: "no such column")
            }
            return try decode(at: position, column: "#\(position)")
        }
    }

    private func decode<T: SQLValueConvertible>(at index: Int, column: String) throws -> T {
        guard let value = T(sqlValue: values[index]) else {
            throw SQLValueMismatch(column: column, expected: "\(T.self)", found: values[index].typeName)
        }
        return value
    }
}
