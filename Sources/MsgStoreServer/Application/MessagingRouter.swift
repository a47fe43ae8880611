import Hummingbird
import Logging
import Messaging
import NIOCore

/// What `GET /metrics` serves: the metrics requests are counted in, and how
/// to render every figure (refreshing those read from storage and worker).
public struct MetricsEndpoint: Sendable {
    /// Where requests are counted.
    public let metrics: ServerMetrics
    /// Renders the text exposition.
    public let render: @Sendable () async -> [UInt8]

    /// An endpoint rendering `metrics` with `render`.
    public init(metrics: ServerMetrics, render: @escaping @Sendable () async -> [UInt8]) {
        self.metrics = metrics
        self.render = render
    }
}

/// Builds the router of the HTTP contract.
public enum MessagingRouter {
    /// The router with every route of ``APIRoutes/all``, JSON error mapping
    /// (404/405 included), request ids, metrics (`GET /metrics`) and, if
    /// enabled, request logging and API keys (``ServerOptions/apiKeys``).
    public static func make<Context: RequestContext>(
        service: MessagingService, options: ServerOptions, logger: Logger, metrics: MetricsEndpoint,
        context: Context.Type = BasicRequestContext.self
    ) -> Router<Context> {
        let router = Router(context: Context.self)
        router.add(middleware: RequestLogMiddleware<Context>(logger: logger, logsRequests: options.logsRequests))
        router.add(middleware: MetricsMiddleware<Context>(metrics: metrics.metrics))
        router.add(middleware: ErrorMiddleware<Context>())
        router.add(middleware: URILengthMiddleware<Context>(maxURIBytes: options.connections.maxURIBytes))
        if let keys = options.apiKeys {
            router.add(middleware: APIKeyMiddleware<Context>(keys: keys))
        }
        let bodies = JSONBodyReader(maxBodyBytes: options.maxBodyBytes)
        UserRoutes<Context>(service: service, bodies: bodies).register(on: router)
        GroupRoutes<Context>(service: service, bodies: bodies).register(on: router)
        MessageRoutes<Context>(service: service, bodies: bodies, keepaliveInterval: options.keepaliveInterval).register(on: router)
        OperationRoutes<Context>(service: service).register(on: router)
        AdminRoutes<Context>(service: service).register(on: router)
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: await metrics.render())))
        }
        return router
    }
}
