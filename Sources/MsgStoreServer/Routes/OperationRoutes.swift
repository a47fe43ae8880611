import Hummingbird
import Messaging
import NIOCore

/// `GET /health` and `GET /openapi.yaml`.
struct OperationRoutes<Context: RequestContext>: Sendable {
    let service: MessagingService

    func register(on router: Router<Context>) {
        router.get("/health") { _, _ in
            try await service.checkHealth()
            return try JSONResponse.make(status: .ok, body: HealthBody(status: "ok"))
        }
        router.get("/openapi.yaml") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/yaml; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
        }
    }
}
