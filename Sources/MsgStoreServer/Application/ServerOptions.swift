import Messaging

/// Options of the HTTP server.
public struct ServerOptions: Sendable {
    /// The address to bind.
    public var host: String
    /// The port to bind; 0 picks a free one.
    public var port: Int
    /// Messaging limits (content size, page sizes).
    public var limits: MessagingLimits
    /// Whether to log one info line per request.
    public var logsRequests: Bool
    /// Connection cap, timeouts and request head limits.
    public var connections: ConnectionLimits
    /// Bearer-token authentication: nil (the default) serves everyone.
    public var apiKeys: APIKeys?
    /// Clients that may wait for messages at once: long polls (`wait` > 0)
    /// and event streams together. One more is answered `503` with `Retry-After`.
    public var maxWaiters: Int
    /// The interval of the keepalive comment on an idle event stream.
    public var keepaliveInterval: Duration

    /// Creates options; the defaults are the contract's.
    public init(
        host: String = "127.0.0.1", port: Int = 8080, limits: MessagingLimits = MessagingLimits(), logsRequests: Bool = true,
        connections: ConnectionLimits = ConnectionLimits(), maxWaiters: Int = InboxNotifier.defaultMaxWaiters,
        keepaliveInterval: Duration = .seconds(15), apiKeys: APIKeys? = nil
    ) {
        precondition(maxWaiters >= 0 && keepaliveInterval > .zero)
        self.host = host
        self.port = port
        self.limits = limits
        self.logsRequests = logsRequests
        self.connections = connections
        self.apiKeys = apiKeys
        self.maxWaiters = maxWaiters
        self.keepaliveInterval = keepaliveInterval
    }

    /// The request body limit: room for the largest content with every byte
    /// JSON-escaped (`\u00XX`, 6×), plus the rest of the body.
    public var maxBodyBytes: Int {
        limits.maxContentBytes * 6 + 4096
    }
}
