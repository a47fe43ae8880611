import Hummingbird
import Messaging
import NIOCore

/// `POST /messages/user/{recipient}`, `POST /messages/group/{groupId}`,
/// `GET /messages/{recipient}?date=&limit=&wait=` (a page, or a long poll with
/// `wait`) and `GET /messages/{recipient}/events?date=` (Server-Sent Events).
struct MessageRoutes<Context: RequestContext>: Sendable {
    let service: MessagingService
    let bodies: JSONBodyReader
    /// The keepalive comment's interval on an idle event stream.
    let keepaliveInterval: Duration

    /// The longest `wait` of a long poll, in seconds.
    static var maxWaitSeconds: Int { 60 }

    func register(on router: Router<Context>) {
        router.post("/messages/user/:recipient") { request, context in
            let recipient = try RequestValue.userID(parameter: "recipient", in: context)
            let body = try await bodies.decode(SendMessageRequestBody.self, from: request)
            let sender = try RequestValue.userID(body.sender, field: "sender")
            let sent = try await service.sendDirectMessage(from: sender, to: recipient, content: body.content)
            return try JSONResponse.make(status: .created, body: SentMessageBody(sent))
        }
        router.post("/messages/group/:groupId") { request, context in
            let group = try RequestValue.groupID(parameter: "groupId", in: context)
            let body = try await bodies.decode(SendMessageRequestBody.self, from: request)
            let sender = try RequestValue.userID(body.sender, field: "sender")
            let sent = try await service.sendGroupMessage(from: sender, to: group, content: body.content)
            return try JSONResponse.make(status: .accepted, body: SentMessageBody(sent))
        }
        router.get("/messages/:recipient") { request, context in
            let recipient = try RequestValue.userID(parameter: "recipient", in: context)
            let query = request.uri.queryParameters
            let after = try query.get("date").map { try RequestValue.date(String($0), field: "date") }
            let limit = try RequestValue.limit(query.get("limit").map { String($0) }, max: service.limits.maxPageSize)
            let wait = try RequestValue.wait(query.get("wait").map { String($0) }, max: Self.maxWaitSeconds)
            let page =
                wait > .zero
                ? try await service.inbox(of: recipient, after: after, limit: limit, waitingUpTo: wait)
                : try await service.inbox(of: recipient, after: after, limit: limit)
            return InboxPageWriter.response(page)
        }
        router.get("/messages/:recipient/events") { request, context in
            let recipient = try RequestValue.userID(parameter: "recipient", in: context)
            let start = try Self.streamStart(request)
            // Subscribed before the first read (which happens in the body): nothing
            // delivered from now on can slip between a read and a wait.
            let subscription = try await service.subscribeToInbox(of: recipient)
            let service = self.service, keepalive = self.keepaliveInterval
            return Response(
                status: .ok,
                headers: [.contentType: EventStreamWriter.contentType, .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    defer { subscription.cancel() }
                    try await service.followInbox(
                        subscription, after: start, idleInterval: keepalive,
                        onMessages: { messages in try await writer.write(EventStreamWriter.events(messages)) },
                        onIdle: { try await writer.write(EventStreamWriter.keepalive) })
                    try await writer.finish(nil)
                })
        }
    }

    /// Where an event stream starts: after the `Last-Event-ID` header's date
    /// when the client sends one (a reconnect), else after the `date` query
    /// parameter, else from the first message.
    static func streamStart(_ request: Request) throws -> MessageDate? {
        if let lastEventID = request.headers[EventStreamWriter.lastEventID], !lastEventID.isEmpty {
            return try RequestValue.date(lastEventID, field: "Last-Event-ID")
        }
        return try request.uri.queryParameters.get("date").map { try RequestValue.date(String($0), field: "date") }
    }
}
