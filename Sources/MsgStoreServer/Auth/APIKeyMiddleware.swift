import Hummingbird

/// Bearer-token authentication with ``APIKeys`` (`serve --api-keys`): every
/// request but `GET /health` and `GET /openapi.yaml` needs
/// `Authorization: Bearer KEY`. A missing or unknown key gets `401` with
/// `WWW-Authenticate`; a read-only key on anything but `GET`/`HEAD` gets `403`.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: APIKeys

    /// Routes open without a key: probes and the contract.
    static func isOpen(_ request: Request) -> Bool {
        (request.method == .get || request.method == .head) && (request.uri.path == "/health" || request.uri.path == "/openapi.yaml")
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.isOpen(request) { return try await next(request, context) }
        guard let authorization = request.headers[.authorization] else {
            throw APIError.unauthorized("Missing API key: send the header 'Authorization: Bearer <key>'.", invalidToken: false)
        }
        let utf8 = authorization.utf8
        let scheme = "bearer ".utf8
        guard utf8.count > scheme.count, zip(utf8.prefix(scheme.count), scheme).allSatisfy({ $0 | 0x20 == $1 | 0x20 }) else {
            throw APIError.unauthorized("The Authorization header must be 'Bearer <key>'.", invalidToken: true)
        }
        let token = utf8.dropFirst(scheme.count).drop(while: { $0 == UInt8(ascii: " ") })
        guard let key = keys.authenticate(token) else {
            throw APIError.unauthorized("Unknown API key.", invalidToken: true)
        }
        if key.access == .readOnly && request.method != .get && request.method != .head {
            throw APIError(status: .forbidden, code: "forbidden",
                           message: "API key '\(key.name)' is read-only: \(request.method.rawValue) is refused.")
        }
        var context = context
        context.logger[metadataKey: "api_key"] = .string(key.name)
        return try await next(request, context)
    }
}
