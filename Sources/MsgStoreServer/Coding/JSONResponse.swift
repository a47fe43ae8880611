import Foundation
import Hummingbird
import NIOCore

/// Builds JSON responses with `Content-Type: application/json; charset=utf-8`.
enum JSONResponse {
    static let contentType = "application/json; charset=utf-8"

    /// Encodes `body` as the response body.
    static func make(status: HTTPResponse.Status, body: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = try encoder.encode(body)
        return Response(
            status: status,
            headers: [.contentType: contentType],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// An empty `204 No Content`.
    static func noContent() -> Response {
        Response(status: .noContent)
    }
}
