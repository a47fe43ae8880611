import Hummingbird
import Logging
import Messaging

/// Builds the router of the HTTP contract.
public enum MessagingRouter {
    /// The router with every route of ``APIRoutes/all``, JSON error mapping
    /// (404/405 included) and, if enabled, request logging.
    public static func make<Context: RequestContext>(
        service: MessagingService, options: ServerOptions, logger: Logger, context: Context.Type = BasicRequestContext.self
    ) -> Router<Context> {
        let router = Router(context: Context.self)
        if options.logsRequests {
            router.add(middleware: RequestLogMiddleware<Context>(logger: logger))
        }
        router.add(middleware: ErrorMiddleware<Context>())
        router.add(middleware: URILengthMiddleware<Context>(maxURIBytes: options.connections.maxURIBytes))
        let bodies = JSONBodyReader(maxBodyBytes: options.maxBodyBytes)
        UserRoutes<Context>(service: service, bodies: bodies).register(on: router)
        GroupRoutes<Context>(service: service, bodies: bodies).register(on: router)
        MessageRoutes<Context>(service: service, bodies: bodies, keepaliveInterval: options.keepaliveInterval).register(on: router)
        OperationRoutes<Context>(service: service).register(on: router)
        AdminRoutes<Context>(service: service).register(on: router)
        return router
    }
}
