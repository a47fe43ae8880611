import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// What the HTTP layer allows one client: how many connections all clients
/// may hold together, how long a connection may sit idle, how long a request
/// may take to arrive, and how large its head may be.
public struct ConnectionLimits: Sendable, Hashable {
    /// Open connections at most; a connection beyond it is closed as soon as
    /// it is accepted (before anything is read from it), so descriptors are
    /// never exhausted by clients.
    public var maxConnections: Int
    /// A connection with no request in progress for this long is closed.
    public var idleTimeout: Duration
    /// A request whose head and body have not arrived this long after its
    /// first byte is abandoned and its connection closed (slow clients such
    /// as slowloris cannot hold a connection forever).
    public var requestReadTimeout: Duration
    /// The largest request head (request line and header fields together) in
    /// bytes; a larger one closes the connection.
    public var maxHeaderBytes: Int
    /// The longest request target (path and query) in bytes; longer is `414`.
    public var maxURIBytes: Int

    /// Defaults for a server on a machine of its own: 4096 connections, 60 s
    /// idle, 30 s to read a request, 16 KiB heads, 8 KiB targets.
    public init(
        maxConnections: Int = 4096, idleTimeout: Duration = .seconds(60), requestReadTimeout: Duration = .seconds(30),
        maxHeaderBytes: Int = 16 * 1024, maxURIBytes: Int = 8 * 1024
    ) {
        precondition(maxConnections >= 1 && maxHeaderBytes >= 1024 && maxURIBytes >= 256)
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.requestReadTimeout = requestReadTimeout
        self.maxHeaderBytes = maxHeaderBytes
        self.maxURIBytes = maxURIBytes
    }
}

/// The count of open HTTP connections, shared by every accepted channel.
/// ``tryOpen()`` and ``close()`` pair up exactly once per admitted channel.
public final class ConnectionCounter: Sendable {
    private let open = Atomic<Int>(0)
    private let refused = Atomic<Int>(0)
    /// The cap.
    public let limit: Int

    /// A counter admitting at most `limit` connections at once.
    public init(limit: Int) { self.limit = limit }

    /// Connections open now.
    public var openConnections: Int { open.load(ordering: .relaxed) }
    /// Connections closed at once because the cap was reached, since start.
    public var refusedConnections: Int { refused.load(ordering: .relaxed) }

    /// Counts a new connection in, unless the cap is reached.
    func tryOpen() -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = open.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        refused.add(1, ordering: .relaxed)
        return false
    }

    /// Counts an admitted connection out.
    func close() { open.subtract(1, ordering: .relaxed) }
}

/// HTTP/1.1 as Hummingbird serves it, with ``ConnectionLimits`` enforced:
/// a connection cap checked at accept, an idle timeout, header limits and a
/// request read deadline.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let inner: HTTP1Channel
    let counter: ConnectionCounter
    let limits: ConnectionLimits

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits, counter: ConnectionCounter) {
        let decoder = HTTP1Channel.Configuration.DecoderConfiguration(
            maxHeaderFieldSize: limits.maxHeaderBytes, maxHeaderListSize: limits.maxHeaderBytes, maxHeaderFieldCount: 100)
        inner = HTTP1Channel(
            responder: responder,
            configuration: .init(idleTimeout: TimeAmount(limits.idleTimeout), httpDecoderConfiguration: decoder))
        self.counter = counter
        self.limits = limits
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // Setup must not fail: Hummingbird's accept loop ends at the first failed child.
        // A connection over the cap is set up as usual and closed at once.
        let admitted = counter.tryOpen()
        if admitted {
            let counter = self.counter
            channel.closeFuture.whenComplete { _ in counter.close() }
        }
        let timeout = TimeAmount(limits.requestReadTimeout)
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let deadline = RequestReadDeadline(timeout: timeout)
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(RequestBytesWatcher(deadline: deadline), position: .first)
            let state = try pipeline.handler(type: HTTPConnectionStateHandler.self)
            try pipeline.addHandler(RequestEndWatcher(deadline: deadline), position: .before(state))
            if !admitted {
                logger.debug("connection closed at once: \(counter.limit) connections are open")
                channel.close(promise: nil)
            }
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// The request read deadline of one connection: armed by the first byte of a
/// request, disarmed when its last part (`.end`) is decoded; when it fires the
/// connection is closed. Confined to the channel's event loop.
final class RequestReadDeadline {
    private let timeout: TimeAmount
    private var scheduled: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    /// Bytes arrived: starts the clock unless a request is already being read.
    func bytesArrived(_ context: ChannelHandlerContext) {
        guard scheduled == nil else { return }
        let channel = context.channel
        scheduled = context.eventLoop.scheduleTask(in: timeout) {
            channel.close(promise: nil)
        }
    }

    /// A whole request arrived: stops the clock.
    func requestEnded() {
        scheduled?.cancel()
        scheduled = nil
    }
}

/// First in the pipeline: sees the raw bytes, arms the deadline.
final class RequestBytesWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let deadline: RequestReadDeadline

    init(deadline: RequestReadDeadline) { self.deadline = deadline }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deadline.bytesArrived(context)
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline.requestEnded()
        context.fireChannelInactive()
    }
}

/// After the HTTP decoder: sees each request's `.end`, disarms the deadline.
final class RequestEndWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let deadline: RequestReadDeadline

    init(deadline: RequestReadDeadline) { self.deadline = deadline }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) { deadline.requestEnded() }
        context.fireChannelRead(data)
    }
}

/// `414` for a request target longer than ``ConnectionLimits/maxURIBytes``.
struct URILengthMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxURIBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.string.utf8.count <= maxURIBytes else {
            throw APIError.uriTooLong("The request target is longer than \(maxURIBytes) bytes.")
        }
        return try await next(request, context)
    }
}
