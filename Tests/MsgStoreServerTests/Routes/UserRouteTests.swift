import Foundation
import Hummingbird
import Testing

@Suite struct UserRouteTests {
    @Test func createUserWithOrWithoutBody() async throws {
        try await TestServer().test { api in
            for body in [nil, "{}", #"{"userId": "ignored", "anything": [1, 2]}"#, "  "] as [String?] {
                let response = try await api.request(.post, "/users", body: body.map { Data($0.utf8) })
                #expect(response.status == .created)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                let id = try #require(response.json["userId"] as? String)
                #expect(id.isLowercaseUUID)
            }
            #expect(try await api.request(.post, "/users", json: "[]").status == .badRequest)
            #expect(try await api.request(.post, "/users", json: "{").status == .badRequest)
        }
    }

    @Test func blockAndUnblock() async throws {
        try await TestServer().test { api in
            let alice = try await api.newUser()
            let bob = try await api.newUser()
            let body: [String: Any] = ["blockerId": bob, "blockedId": alice]
            #expect(try await api.request(.post, "/users/block", object: body).status == .noContent)
            #expect(try await api.request(.post, "/users/block", object: body).status == .noContent, "twice is fine")
            let blocked = try await api.send(from: alice, to: bob)
            #expect(blocked.status == .forbidden && blocked.errorCode == "forbidden")
            #expect(try await api.send(from: bob, to: alice).status == .created, "only one direction")
            #expect(try await api.request(.delete, "/users/block", object: body).status == .noContent)
            #expect(try await api.request(.delete, "/users/block", object: body).status == .noContent, "no block")
            #expect(try await api.send(from: alice, to: bob).status == .created)
        }
    }

    @Test func blockErrors() async throws {
        try await TestServer().test { api in
            let alice = try await api.newUser()
            let stranger = UUID().uuidString.lowercased()
            for method in [HTTPRequest.Method.post, .delete] {
                let same = try await api.request(method, "/users/block", object: ["blockerId": alice, "blockedId": alice])
                #expect(same.status == .badRequest && same.errorCode == "bad_request")
                let missing = try await api.request(method, "/users/block", object: ["blockerId": alice, "blockedId": stranger])
                #expect(missing.status == .notFound && missing.errorCode == "not_found")
                let missingBlocker = try await api.request(
                    method, "/users/block", object: ["blockerId": stranger, "blockedId": alice])
                #expect(missingBlocker.status == .notFound)
                let noField = try await api.request(method, "/users/block", object: ["blockerId": alice])
                #expect(noField.status == .badRequest && noField.errorMessage.contains("blockedId"))
                let badType = try await api.request(method, "/users/block", object: ["blockerId": 7, "blockedId": alice])
                #expect(badType.status == .badRequest && badType.errorMessage.contains("blockerId"))
                let notUUID = try await api.request(method, "/users/block", object: ["blockerId": alice, "blockedId": "bob"])
                #expect(notUUID.status == .badRequest && notUUID.errorMessage.contains("blockedId"))
                #expect(try await api.request(method, "/users/block").status == .badRequest, "no body")
            }
        }
    }
}
