import Hummingbird
import Logging

/// Turns every error thrown below it into the contract's JSON error response,
/// through ``APIError/init(_:)``. A request whose path exists with other
/// methods gets 405 with `Allow` instead of 404. Unexpected errors are logged
/// and answered with a 500 that reveals nothing.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            var apiError = APIError(error)
            if apiError.status == .notFound, let routing = error as? HTTPError, routing.status == .notFound {
                let allowed = APIRoutes.allowedMethods(for: request.uri.path)
                apiError =
                    allowed.isEmpty
                    ? .notFound("No route for \(request.method.rawValue) \(request.uri.path).")
                    : .methodNotAllowed(request.method, allowed: allowed)
            }
            if apiError.status == .internalServerError {
                context.logger.error(
                    "request failed", metadata: ["path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            }
            return try apiError.response(from: request, context: context)
        }
    }
}
