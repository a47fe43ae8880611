import Hummingbird

/// Counts every answered request in ``ServerMetrics`` by method, route
/// pattern (`unmatched` for a path no route has) and status, and records its
/// duration. Sits outside the error middleware, so it sees the status the
/// client got.
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        // Hummingbird names the not-found responder's endpoint "NotFound"; a route's pattern starts with "/".
        let route = context.endpointPath.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "unmatched"
        metrics.recordRequest(method: request.method.rawValue, route: route,
                              status: response.status.code, duration: ContinuousClock.now - start)
        return response
    }
}
