import Foundation
import Hummingbird
import Testing

@Suite struct RoutingTests {
    @Test func unknownRouteIsAJSON404() async throws {
        try await TestServer().test { api in
            for uri in ["/", "/nope", "/users/block/extra", "/messages/user/a/b", "/groups/x/members/y/z"] {
                let response = try await api.request(.get, uri)
                #expect(response.status == .notFound && response.errorCode == "not_found", "\(uri)")
                #expect(!response.errorMessage.isEmpty)
            }
        }
    }

    @Test func wrongMethodIsAJSON405WithAllow() async throws {
        try await TestServer().test { api in
            let user = UUID().uuidString
            let cases: [(HTTPRequest.Method, String, String)] = [
                (.get, "/users", "POST"), (.put, "/users/block", "DELETE, POST"), (.delete, "/groups", "POST"),
                (.put, "/groups/\(user)/members", "GET, POST"), (.get, "/groups/\(user)/members/\(user)", "DELETE"),
                (.get, "/messages/user/\(user)", "POST"), (.post, "/messages/\(user)", "GET"), (.post, "/health", "GET"),
                (.patch, "/users/", "POST"),
            ]
            for (method, uri, allow) in cases {
                let response = try await api.request(method, uri)
                #expect(response.status == .methodNotAllowed && response.errorCode == "method_not_allowed", "\(method) \(uri)")
                #expect(response.headers[.allow] == allow, "\(method) \(uri)")
            }
        }
    }

    @Test func trailingSlashIsAccepted() async throws {
        try await TestServer().test { api in
            let created = try await api.request(.post, "/users/")
            #expect(created.status == .created)
            let alice = try #require(created.json["userId"] as? String)
            let bob = try await api.newUser()
            #expect(try await api.request(.post, "/users/block/", object: ["blockerId": alice, "blockedId": bob]).status == .noContent)
            #expect(try await api.request(.delete, "/users/block/", object: ["blockerId": alice, "blockedId": bob]).status == .noContent)
            let group = try #require(try await api.request(.post, "/groups/").json["groupId"] as? String)
            #expect(try await api.request(.post, "/groups/\(group)/members/", object: ["userId": alice]).status == .noContent)
            #expect(try await api.request(.get, "/groups/\(group)/members/").status == .ok)
            let sent = try await api.request(.post, "/messages/user/\(bob)/", object: ["sender": alice, "content": "x"])
            #expect(sent.status == .created)
            #expect(try await api.request(.post, "/messages/group/\(group)/", object: ["sender": alice, "content": "x"]).status == .accepted)
            #expect(try await api.request(.get, "/messages/\(bob)/?limit=5").status == .ok)
            #expect(try await api.request(.delete, "/groups/\(group)/members/\(alice)/").status == .noContent)
            #expect(try await api.request(.get, "/health/").status == .ok)
            #expect(try await api.request(.get, "/openapi.yaml/").status == .ok)
        }
    }

    @Test func health() async throws {
        try await TestServer().test { api in
            let response = try await api.request(.get, "/health")
            #expect(response.status == .ok && response.json["status"] as? String == "ok")
        }
    }

    @Test func healthIsUnavailableOnceTheStoreIsClosed() async throws {
        let server = TestServer()
        try await server.server.storage.close()
        try await server.test { api in
            let response = try await api.request(.get, "/health")
            #expect(response.status == .serviceUnavailable && response.errorCode == "unavailable")
        }
    }

    /// A request target longer than the limit (8 KiB) is a 414 with the JSON error body.
    @Test func overlongTargetsAre414() async throws {
        try await TestServer().test { api in
            let long = try await api.request(.get, "/messages/" + String(repeating: "a", count: 9000))
            #expect(long.status == .uriTooLong && long.errorCode == "uri_too_long")
            let query = try await api.request(.get, "/health?" + String(repeating: "x=1&", count: 2100))
            #expect(query.status == .uriTooLong)
            #expect(try await api.request(.get, "/health?" + String(repeating: "x", count: 7000)).status == .ok)
        }
    }
}
