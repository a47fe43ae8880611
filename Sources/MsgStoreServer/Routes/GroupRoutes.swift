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
        router.get("/groups/:groupId/members") { _, context in
            let group = try RequestValue.groupID(parameter: "groupId", in: context)
            let members = try await service.members(of: group)
            return try JSONResponse.make(status: .ok, body: MembersBody(members: members.map(\.description)))
        }
        router.delete("/groups/:groupId/members/:userId") { _, context in
            let group = try RequestValue.groupID(parameter: "groupId", in: context)
            let user = try RequestValue.userID(parameter: "userId", in: context)
            try await service.removeMember(user, from: group)
            return JSONResponse.noContent()
        }
    }
}
