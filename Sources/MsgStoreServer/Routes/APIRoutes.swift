import Hummingbird

/// One route of the HTTP contract.
public struct APIRoute: Hashable, Sendable {
    /// The method.
    public var method: HTTPRequest.Method
    /// The path in Hummingbird syntax (`/groups/:groupId/members`).
    public var path: String

    /// The path in OpenAPI syntax (`/groups/{groupId}/members`).
    public var openAPIPath: String {
        path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
            .reduce("") { $0 + "/" + $1 }
    }

    /// Whether `requestPath` (with or without one trailing slash) matches this route's path.
    func matches(_ requestPath: String) -> Bool {
        var trimmed = Substring(requestPath)
        if trimmed.hasSuffix("/") && trimmed.count > 1 { trimmed = trimmed.dropLast() }
        let pattern = path.split(separator: "/", omittingEmptySubsequences: false)
        let actual = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        guard pattern.count == actual.count else { return false }
        return zip(pattern, actual).allSatisfy { $0.hasPrefix(":") ? !$1.isEmpty : $0 == $1 }
    }
}

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
        APIRoute(method: .get, path: "/health"),
        APIRoute(method: .get, path: "/openapi.yaml"),
    ]

    /// The methods that exist for `path`, for a 405's `Allow` header; empty if no route matches.
    static func allowedMethods(for path: String) -> [HTTPRequest.Method] {
        all.filter { $0.matches(path) }.map(\.method)
    }
}
