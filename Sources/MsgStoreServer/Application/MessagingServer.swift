import Hummingbird
import HummingbirdCore
import Logging
import Messaging
import ServiceLifecycle

/// The whole server in one process: HTTP routes, the fan-out worker and the storage.
public struct MessagingServer: Sendable {
    /// The storage it serves.
    public let storage: any MessagingStorage
    /// The domain service.
    public let service: MessagingService
    /// The fan-out worker.
    public let worker: FanOutWorker
    /// HTTP options.
    public let options: ServerOptions
    /// Open connections and those closed at once over the cap.
    public let connections: ConnectionCounter
    /// Everything `GET /metrics` shows.
    public let metrics: ServerMetrics
    private let logger: Logger

    /// Wakes the clients waiting for messages (long polls and event streams);
    /// the service notifies it after direct messages, the worker after group copies.
    public var notifier: InboxNotifier { service.notifier }

    /// Wires storage, service and worker together, with one ``InboxNotifier``
    /// admitting ``ServerOptions/maxWaiters`` waiting clients; metrics go to
    /// `metrics` (a registry of its own by default).
    public init(storage: any MessagingStorage, options: ServerOptions, fanOut: FanOutOptions = FanOutOptions(), logger: Logger,
                metrics: ServerMetrics = ServerMetrics()) {
        let notifier = InboxNotifier(maxWaiters: options.maxWaiters)
        let worker = FanOutWorker(storage: storage, options: fanOut, notifier: notifier, logger: logger, metricsFactory: metrics.factory)
        self.metrics = metrics
        self.storage = storage
        self.worker = worker
        self.service = MessagingService(storage: storage, limits: options.limits, notifier: notifier)
        self.options = options
        self.connections = ConnectionCounter(limit: options.connections.maxConnections)
        self.logger = logger
    }

    /// The router of the HTTP contract bound to this server's service.
    public func makeRouter() -> Router<BasicRequestContext> {
        let (metrics, storage, worker, connections, notifier) = (self.metrics, self.storage, self.worker, self.connections, self.notifier)
        return MessagingRouter.make(service: service, options: options, logger: logger, metrics: MetricsEndpoint(metrics: metrics) {
            await metrics.exposition(storage: storage, worker: worker, connections: connections, notifier: notifier)
        })
    }

    /// The Hummingbird application (HTTP only; the worker runs beside it in
    /// ``run(onServerRunning:)``), serving HTTP/1.1 within ``ServerOptions/connections``.
    public func makeApplication(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let limits = options.connections
        let counter = connections
        return Application(
            router: makeRouter(),
            server: HTTPServerBuilder { responder in
                GuardedHTTP1Channel(responder: responder, limits: limits, counter: counter)
            },
            configuration: ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: "msgstore"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Serves until SIGTERM or SIGINT: then releases the clients waiting for
    /// messages (long polls answer, event streams end), stops accepting,
    /// finishes in-flight requests, stops the fan-out worker after its current
    /// batch and closes the storage.
    public func run(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let application = makeApplication(onServerRunning: onServerRunning)
        // Shutdown runs in reverse order: the waiting clients are released first (so
        // that the HTTP drain does not wait for long polls and streams), then HTTP
        // drains, then the worker stops.
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(service: FanOutService(worker: worker)),
                .init(service: application),
                .init(service: InboxNotifierService(notifier: notifier)),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // Past this, remaining work is cancelled, so the process exits well within 10 s.
        configuration.maximumGracefulShutdownDuration = .seconds(7)
        configuration.maximumCancellationDuration = .seconds(1)
        let group = ServiceGroup(configuration: configuration)
        do {
            try await group.run()
        } catch {
            try? await storage.close()
            throw error
        }
        try await storage.close()
        logger.info("storage closed")
    }
}
