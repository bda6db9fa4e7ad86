import Hummingbird

/// The JSON answers of the platform's HTTP APIs (the order API and orderd's control API).
public enum JSONResponse {
    /// `value` as `application/json`, encoded by ``OrderedJSONEncoder`` (object keys in the order
    /// the value encodes them, the same bytes on every run) and ended by a newline.
    /// - Throws: what ``OrderedJSONEncoder/encode(_:)`` throws; nothing is sent then.
    public static func make(
        _ status: HTTPResponse.Status,
        _ value: some Encodable,
        headers: HTTPFields = [:]
    ) throws -> Response {
        var bytes = try OrderedJSONEncoder().encode(value)
        bytes.append(UInt8(ascii: "\n"))
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
