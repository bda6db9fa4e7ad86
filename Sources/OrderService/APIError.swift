import HTTPTypes

/// An API failure answered as `{"error":{"code":…,"message":…,"field":…}}` with its status.
/// Codes are stable and documented; messages are for people.
public struct APIError: Error, Sendable, Hashable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?

    public init(_ status: HTTPResponse.Status, code: String, message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    static func invalidField(_ field: String, _ problem: String) -> APIError {
        APIError(.badRequest, code: "invalid_field", message: "\(field) \(problem)", field: field)
    }
}
