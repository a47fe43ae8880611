import Hummingbird

/// Every route of the HTTP contract; the router registers exactly these (a test checks).
public enum APIRoutes {
    /// All routes.
    public static let all: [APIRoute] = [
        APIRoute(method: .post, path: "/users"),
        APIRoute(method: .post, path: "/users/block"),
        APIRoute(method: .delete, path: "/users/block"),
        APIRoute(method: .post, path: "/groups"),
        APIRoute(method: .post, path: "/groups/:groupId/members"),
        APIRoute(method: .get, path: "/groups/:groupId/members"),
        APIRoute(method: .delete, path: "/groups/:groupId/members/:userId"),
        APIRoute(method: .post, path: "/messages/user/:recipient"),
        APIRoute(method: .post, path: "/messages/group/:groupId"),
        APIRoute(method: .get, path: "/messages/:recipient"),
        APIRoute(method: .get, path: "/messages/:recipient/events"),
        APIRoute(method: .get, path: "/health"),
        APIRoute(method: .get, path: "/openapi.yaml"),
        APIRoute(method: .get, path: "/metrics"),
        APIRoute(method: .get, path: "/admin/queues/fanout"),
        APIRoute(method: .post, path: "/admin/queues/fanout/redrive"),
    ]

    /// The methods that exist for `path`, for a 405's `Allow` header; empty if no route matches.
    static func allowedMethods(for path: String) -> [HTTPRequest.Method] {
        all.filter { $0.matches(path) }.map(\.method)
    }
}
