import Hummingbird
import Logging
import ServiceKit

/// An API failure answered as `{"error":{"code":…,"message":…,"field":…}}` (keys in that order,
/// `field` only when one field is at fault) with its status. Thrown from a route, Hummingbird
/// renders it through ``response(from:context:)``. Codes are stable and documented; messages are
/// for people.
public struct APIError: HTTPResponseError, Sendable, Hashable {
    /// The HTTP status of the answer.
    public var status: HTTPResponse.Status
    /// The stable, documented error code, such as `invalid_field`.
    public var code: String
    /// What went wrong and what to do, for people; never contains a secret.
    public var message: String
    /// The request field at fault, when there is one.
    public var field: String?

    /// An error answered with `status`.
    public init(_ status: HTTPResponse.Status, code: String, message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    static func invalidField(_ field: String, _ problem: String) -> APIError {
        APIError(.badRequest, code: "invalid_field", message: "\(field) \(problem)", field: field)
    }

    /// The answer to a failure that is not the client's (the database, shutting down): 503, retry later.
    static let unavailable = APIError(
        .serviceUnavailable,
        code: "internal_error",
        message: "the order could not be processed; retry later"
    )

    /// The error as JSON with its status.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try JSONResponse.make(status, Body(error: Detail(code: code, message: message, field: field)))
    }

    private struct Body: Encodable {
        var error: Detail
    }

    private struct Detail: Encodable {
        var code: String
        var message: String
        var field: String?
    }
}

/// Answers every error a route throws that is not already an HTTP answer (an ``APIError``, or
/// Hummingbird's own 404) with ``APIError/unavailable``, and logs its cause: the client learns
/// to retry, the operator learns why.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            logger.error("\(request.method) \(request.uri.path) failed: \(error)")
            throw APIError.unavailable
        }
    }
}
