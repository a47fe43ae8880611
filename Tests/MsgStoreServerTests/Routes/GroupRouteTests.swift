import Foundation
import Hummingbird
import Testing

@Suite struct GroupRouteTests {
    @Test func membersLifecycle() async throws {
        try await TestServer().test { api in
            let alice = try await api.newUser()
            let bob = try await api.newUser()
            let created = try await api.request(.post, "/groups", json: "{}")
            #expect(created.status == .created)
            let group = try #require(created.json["groupId"] as? String)
            #expect(group.isLowercaseUUID)
            for user in [alice, bob, alice] {
                #expect(try await api.request(.post, "/groups/\(group)/members", object: ["userId": user]).status == .noContent)
            }
            let members = try await api.request(.get, "/groups/\(group)/members")
            #expect(members.status == .ok)
            #expect(members.json["members"] as? [String] == [alice, bob].sorted { $0.uppercased() < $1.uppercased() }, "by id")
            #expect(members.json["nextPageToken"] == nil)
            #expect(try await api.request(.delete, "/groups/\(group)/members/\(alice)").status == .noContent)
            #expect(try await api.request(.delete, "/groups/\(group)/members/\(alice)").status == .noContent, "not a member")
            #expect(try await api.request(.get, "/groups/\(group)/members").json["members"] as? [String] == [bob])
            #expect(try await api.request(.get, "/groups/\(group.uppercased())/members").status == .ok, "either case")
        }
    }

    @Test func groupErrors() async throws {
        try await TestServer().test { api in
            let alice = try await api.newUser()
            let group = try await api.newGroup(members: [])
            let stranger = UUID().uuidString
            let cases: [(HTTPRequest.Method, String, [String: Any]?, HTTPResponse.Status, String?)] = [
                (.post, "/groups/\(stranger)/members", ["userId": alice], .notFound, nil),
                (.post, "/groups/\(group)/members", ["userId": stranger], .notFound, nil),
                (.post, "/groups/nope/members", ["userId": alice], .badRequest, "groupId"),
                (.post, "/groups/\(group)/members", ["userId": "nope"], .badRequest, "userId"),
                (.post, "/groups/\(group)/members", ["userId": 12], .badRequest, "userId"),
                (.post, "/groups/\(group)/members", [:], .badRequest, "userId"),
                (.get, "/groups/\(stranger)/members", nil, .notFound, nil),
                (.get, "/groups/nope/members", nil, .badRequest, "groupId"),
                (.get, "/groups/\(group)/members?after=nope", nil, .badRequest, "after"),
                (.get, "/groups/\(group)/members?limit=0", nil, .badRequest, "limit"),
                (.get, "/groups/\(group)/members?limit=1001", nil, .badRequest, "limit"),
                (.get, "/groups/\(group)/members?limit=x", nil, .badRequest, "limit"),
                (.delete, "/groups/\(stranger)/members/\(alice)", nil, .notFound, nil),
                (.delete, "/groups/\(group)/members/\(stranger)", nil, .notFound, nil),
                (.delete, "/groups/\(group)/members/nope", nil, .badRequest, "userId"),
                (.delete, "/groups/nope/members/\(alice)", nil, .badRequest, "groupId"),
            ]
            for (method, uri, object, status, field) in cases {
                let response =
                    if let object { try await api.request(method, uri, object: object) } else { try await api.request(method, uri) }
                #expect(response.status == status, "\(method) \(uri)")
                #expect(response.errorCode == (status == .notFound ? "not_found" : "bad_request"))
                if let field { #expect(response.errorMessage.contains(field), "\(response.errorMessage)") }
            }
        }
    }

    /// `GET /groups/{id}/members` pages by id: `limit`, `nextPageToken` passed back as `after`.
    @Test func membersPage() async throws {
        try await TestServer().test { api in
            var users: [String] = []
            for _ in 0..<7 { users.append(try await api.newUser()) }
            let group = try await api.newGroup(members: users)
            var seen: [String] = []
            var after: String?
            var pages = 0
            repeat {
                let response = try await api.request(.get, "/groups/\(group)/members?limit=3" + (after.map { "&after=\($0)" } ?? ""))
                #expect(response.status == .ok)
                let page = response.json["members"] as? [String] ?? []
                seen += page
                after = response.json["nextPageToken"] as? String
                #expect(after == nil || after == page.last)
                pages += 1
            } while after != nil && pages < 10
            #expect(pages == 3)
            #expect(seen == users.sorted { $0.uppercased() < $1.uppercased() })
        }
    }
}
