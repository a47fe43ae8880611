import Hummingbird
import Messaging
import NIOCore

/// An error as the HTTP contract shows it: a status and the JSON body
/// `{"error": code, "message": sentence}`.
///
/// ``APIError/init(_:)`` is the one place where every error — domain, decoding,
/// routing, body size or unexpected — becomes an HTTP status.
public struct APIError: HTTPResponseError, Sendable {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// The stable error code (`bad_request`, `not_found`, …).
    public var code: String
    /// A human sentence.
    public var message: String
    /// Extra response headers (e.g. `Allow` on a 405).
    public var headers: HTTPFields

    /// Creates an error response.
    public init(status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    /// 400 `bad_request`.
    public static func badRequest(_ message: String) -> APIError {
        APIError(status: .badRequest, code: "bad_request", message: message)
    }

    /// 401 `unauthorized`, with `WWW-Authenticate: Bearer` (RFC 6750; with
    /// `error="invalid_token"` when a key was sent but is not accepted).
    public static func unauthorized(_ message: String, invalidToken: Bool) -> APIError {
        APIError(status: .unauthorized, code: "unauthorized", message: message,
                 headers: [.wwwAuthenticate: invalidToken ? "Bearer realm=\"msgstore\", error=\"invalid_token\"" : "Bearer realm=\"msgstore\""])
    }

    /// 404 `not_found`.
    public static func notFound(_ message: String) -> APIError {
        APIError(status: .notFound, code: "not_found", message: message)
    }

    /// 405 `method_not_allowed`, with the `Allow` header.
    public static func methodNotAllowed(_ method: HTTPRequest.Method, allowed: [HTTPRequest.Method]) -> APIError {
        let allow = allowed.map(\.rawValue).sorted().joined(separator: ", ")
        return APIError(
            status: .methodNotAllowed, code: "method_not_allowed",
            message: "Method \(method.rawValue) is not allowed here; allowed: \(allow).",
            headers: [.allow: allow])
    }

    /// 413 `payload_too_large`.
    public static func payloadTooLarge(_ message: String) -> APIError {
        APIError(status: .contentTooLarge, code: "payload_too_large", message: message)
    }

    /// 414 `uri_too_long`.
    public static func uriTooLong(_ message: String) -> APIError {
        APIError(status: .uriTooLong, code: "uri_too_long", message: message)
    }

    /// 415 `unsupported_media_type`.
    public static func unsupportedMediaType(_ message: String) -> APIError {
        APIError(status: .unsupportedMediaType, code: "unsupported_media_type", message: message)
    }

    /// 500 `internal`.
    public static func `internal`(_ message: String) -> APIError {
        APIError(status: .internalServerError, code: "internal", message: message)
    }

    /// The `Retry-After` of a `503` for too many waiting clients, in seconds.
    public static let waiterLimitRetryAfterSeconds = 5

    /// Maps any error to its HTTP form — the single mapping of the server.
    public init(_ error: any Error) {
        switch error {
        case let error as APIError:
            self = error
        case let error as InboxWaiterLimitError:
            self.init(
                status: .serviceUnavailable, code: "unavailable", message: error.description,
                headers: [.retryAfter: "\(Self.waiterLimitRetryAfterSeconds)"])
        case let error as MessagingError:
            switch error.code {
            case .badRequest: self = .badRequest(error.message)
            case .forbidden: self.init(status: .forbidden, code: "forbidden", message: error.message)
            case .notFound: self = .notFound(error.message)
            case .payloadTooLarge: self = .payloadTooLarge(error.message)
            case .unavailable:
                self.init(status: .serviceUnavailable, code: "unavailable", message: error.message)
            }
        case is NIOTooManyBytesError:
            self = .payloadTooLarge("The request body is larger than the server accepts.")
        case let error as HTTPError:
            switch error.status {
            case .notFound: self = .notFound(error.body ?? "No such route.")
            case .badRequest: self = .badRequest(error.body ?? "Bad request.")
            case .contentTooLarge: self = .payloadTooLarge(error.body ?? "The request body is too large.")
            case .unsupportedMediaType: self = .unsupportedMediaType(error.body ?? "Unsupported media type.")
            case .methodNotAllowed:
                self.init(
                    status: .methodNotAllowed, code: "method_not_allowed",
                    message: error.body ?? "Method not allowed.")
            default: self = .internal(error.body ?? "Internal error.")
            }
        default:
            self = .internal("Internal error.")
        }
    }

    /// The JSON error response.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try JSONResponse.make(status: status, body: ErrorBody(error: code, message: message))
        response.headers.append(contentsOf: headers)
        return response
    }
}
