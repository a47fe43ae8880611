import Hummingbird
import Messaging

/// `POST /users`, `POST /users/block`, `DELETE /users/block`.
struct UserRoutes<Context: RequestContext>: Sendable {
    let service: MessagingService
    let bodies: JSONBodyReader

    func register(on router: Router<Context>) {
        router.post("/users") { request, _ in
            _ = try await bodies.decodeIfPresent(EmptyRequestBody.self, from: request)
            let user = try await service.createUser()
            return try JSONResponse.make(status: .created, body: CreatedUserBody(userId: user.description))
        }
        router.post("/users/block") { request, _ in
            try await setBlock(request, isBlocked: true)
        }
        router.delete("/users/block") { request, _ in
            try await setBlock(request, isBlocked: false)
        }
    }

    private func setBlock(_ request: Request, isBlocked: Bool) async throws -> Response {
        let body = try await bodies.decode(BlockRequestBody.self, from: request)
        let blocker = try RequestValue.userID(body.blockerId, field: "blockerId")
        let blocked = try RequestValue.userID(body.blockedId, field: "blockedId")
        try await service.setBlock(blocker: blocker, blocked: blocked, isBlocked: isBlocked)
        return JSONResponse.noContent()
    }
}
