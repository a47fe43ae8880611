import Hummingbird
import Logging

/// Gives every request an id — the client's `X-Request-Id` if it is 1 to 128
/// characters of `A-Z a-z 0-9 . _ -`, otherwise the server's own — echoes it
/// in the response's `X-Request-Id`, adds it to the request's logger
/// (`request_id`, so an error logged while serving it names it), and, when
/// `logsRequests`, logs one info line per request: method, path, status,
/// duration, with the same figures as metadata (`method`, `path`, `status`,
/// `duration_us`) for a JSON log.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    let logsRequests: Bool

    /// Whether a client's request id is safe to echo and log.
    static func isAcceptable(_ id: String) -> Bool {
        let utf8 = id.utf8
        return (1...128).contains(utf8.count) && utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "-")
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let requestID = request.headers[HeaderName.requestID].flatMap { Self.isAcceptable($0) ? $0 : nil } ?? context.id
        var context = context
        context.logger[metadataKey: "request_id"] = .string(requestID)
        var response = try await next(request, context)
        response.headers[HeaderName.requestID] = requestID
        if logsRequests {
            let elapsed = ContinuousClock.now - start
            let microseconds = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
            logger.info("\(request.method.rawValue) \(request.uri.path) \(response.status.code) \(microseconds)us", metadata: [
                "request_id": .string(requestID), "method": .string(request.method.rawValue), "path": .string(request.uri.path),
                "status": .stringConvertible(response.status.code), "duration_us": .stringConvertible(microseconds),
            ])
        }
        return response
    }
}

/// Header names Hummingbird does not name.
enum HeaderName {
    /// `X-Request-Id`.
    static let requestID = HTTPFields.Element.Name("X-Request-Id")!
}
