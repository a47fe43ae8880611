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
