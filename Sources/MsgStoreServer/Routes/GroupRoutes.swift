import Hummingbird
import Messaging

/// `POST /groups`, `POST|GET /groups/{groupId}/members`,
/// `DELETE /groups/{groupId}/members/{userId}`.
struct GroupRoutes<Context: RequestContext>: Sendable {
    let service: MessagingService
    let bodies: JSONBodyReader

    func register(on router: Router<Context>) {
        router.post("/groups") { request, _ in
            _ = try await bodies.decodeIfPresent(EmptyRequestBody.self, from: request)
            let group = try await service.createGroup()
            return try JSONResponse.make(status: .created, body: CreatedGroupBody(groupId: group.description))
        }
        router.post("/groups/:groupId/members") { request, context in
            let group = try RequestValue.groupID(parameter: "groupId", in: context)
            let body = try await bodies.decode(AddMemberRequestBody.self, from: request)
            let user = try RequestValue.userID(body.userId, field: "userId")
            try await service.addMember(user, to: group)
            return JSONResponse.noContent()
        }
        router.get("/groups/:groupId/members") { request, context in
            let group = try RequestValue.groupID(parameter: "groupId", in: context)
            let query = request.uri.queryParameters
            let after = try query.get("after").map { try RequestValue.userID(String($0), field: "after") }
            let limit = try RequestValue.limit(query.get("limit").map { String($0) }, max: service.limits.maxPageSize)
            let page = try await service.members(of: group, after: after, limit: limit)
            return try JSONResponse.make(status: .ok, body: MembersBody(page))
        }
        router.delete("/groups/:groupId/members/:userId") { _, context in
            let group = try RequestValue.groupID(parameter: "groupId", in: context)
            let user = try RequestValue.userID(parameter: "userId", in: context)
            try await service.removeMember(user, from: group)
            return JSONResponse.noContent()
        }
    }
}
