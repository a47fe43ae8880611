import Hummingbird
import Messaging

/// `POST /messages/user/{recipient}`, `POST /messages/group/{groupId}`,
/// `GET /messages/{recipient}?date=&limit=`.
struct MessageRoutes<Context: RequestContext>: Sendable {
    let service: MessagingService
    let bodies: JSONBodyReader

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
            let page = try await service.inbox(of: recipient, after: after, limit: limit)
            return InboxPageWriter.response(page)
        }
    }
}
