import Foundation
import Hummingbird
import Testing

@Suite struct MessageRouteTests {
    @Test func directMessage() async throws {
        try await TestServer().test { api in
            let alice = try await api.newUser()
            let bob = try await api.newUser()
            let sent = try await api.send(from: alice.uppercased(), to: bob.uppercased(), "Hi there")
            #expect(sent.status == .created)
            let id = try #require(sent.json["messageId"] as? String)
            let date = try #require(sent.json["date"] as? String)
            #expect(id.isLowercaseUUID && date.isWireDate)
            let page = try await api.inbox(bob)
            #expect(page.status == .ok && page.json["nextPageToken"] == nil)
            let message = try #require((page.json["messages"] as? [[String: Any]])?.first)
            #expect(message["messageId"] as? String == id)
            #expect(message["sender"] as? String == alice && message["recipient"] as? String == bob)
            #expect(message["content"] as? String == "Hi there")
            #expect(message["date"] as? String == date && message["sentAt"] as? String == date)
            #expect(message.keys.contains("groupId") == false)
        }
    }

    @Test func directMessageErrors() async throws {
        try await TestServer(maxContentBytes: 100).test { api in
            let alice = try await api.newUser()
            let bob = try await api.newUser()
            let stranger = UUID().uuidString
            #expect(try await api.send(from: stranger, to: bob).status == .notFound)
            #expect(try await api.send(from: alice, to: stranger).status == .notFound)
            let empty = try await api.send(from: alice, to: bob, "")
            #expect(empty.status == .badRequest && empty.errorMessage.contains("content"))
            let large = try await api.send(from: alice, to: bob, String(repeating: "x", count: 101))
            #expect(large.status == .contentTooLarge && large.errorCode == "payload_too_large")
            #expect(try await api.send(from: alice, to: bob, String(repeating: "x", count: 100)).status == .created)
            // Escaping can make a body 6× its content: the largest content fully escaped still fits.
            let escaped = #"{"sender":"\#(alice)","content":"\#(String(repeating: #"\u0001"#, count: 100))"}"#
            #expect(try await api.request(.post, "/messages/user/\(bob)", json: escaped).status == .created)
            // A body past the limit is refused before it is parsed.
            let huge = try await api.request(
                .post, "/messages/user/\(bob)", json: #"{"sender":"\#(alice)","content":"\#(String(repeating: "x", count: 5000))"}"#)
            #expect(huge.status == .contentTooLarge && huge.errorCode == "payload_too_large")
            let badRecipient = try await api.send(from: alice, to: "bob")
            #expect(badRecipient.status == .badRequest && badRecipient.errorMessage.contains("recipient"))
            let badSender = try await api.send(from: "alice", to: bob)
            #expect(badSender.status == .badRequest && badSender.errorMessage.contains("sender"))
            let wrongType = try await api.request(.post, "/messages/user/\(bob)", object: ["sender": alice, "content": 5])
            #expect(wrongType.status == .badRequest && wrongType.errorMessage.contains("content"))
            let nullField = try await api.request(.post, "/messages/user/\(bob)", json: #"{"sender":null,"content":"x"}"#)
            #expect(nullField.status == .badRequest && nullField.errorMessage.contains("sender"))
            let missing = try await api.request(.post, "/messages/user/\(bob)", object: ["sender": alice])
            #expect(missing.status == .badRequest && missing.errorMessage.contains("content"))
        }
    }

    @Test func serverAssignedFieldsInTheBodyAreIgnored() async throws {
        try await TestServer().test { api in
            let alice = try await api.newUser()
            let bob = try await api.newUser()
            let forged = try await api.request(
                .post, "/messages/user/\(bob)",
                object: ["sender": alice, "content": "x", "messageId": "m", "date": "1999-01-01T00:00:00Z", "extra": [1]])
            #expect(forged.status == .created)
            #expect(forged.json["date"] as? String != "1999-01-01T00:00:00.000000Z")
        }
    }

    @Test func groupMessage() async throws {
        try await TestServer().test { api in
            let alice = try await api.newUser()
            let bob = try await api.newUser()
            let group = try await api.newGroup(members: [alice, bob])
            let sent = try await api.sendGroup(from: alice, to: group, "to all")
            #expect(sent.status == .accepted)
            let id = try #require(sent.json["messageId"] as? String)
            let sentAt = try #require(sent.json["date"] as? String)
            for member in [alice, bob] {
                try await api.waitForInbox(member, count: 1)
                let message = try #require(try await api.wholeInbox(member).first)
                #expect(message["messageId"] as? String == id && message["groupId"] as? String == group)
                #expect(message["recipient"] as? String == member && message["sender"] as? String == alice)
                #expect(message["sentAt"] as? String == sentAt)
                let date = try #require(message["date"] as? String)
                #expect(date.isWireDate && date > sentAt)
            }
        }
    }

    @Test func groupMessageErrors() async throws {
        try await TestServer(maxContentBytes: 10).test { api in
            let alice = try await api.newUser()
            let outsider = try await api.newUser()
            let group = try await api.newGroup(members: [alice])
            let forbidden = try await api.sendGroup(from: outsider, to: group)
            #expect(forbidden.status == .forbidden && forbidden.errorCode == "forbidden")
            #expect(try await api.sendGroup(from: alice, to: UUID().uuidString).status == .notFound)
            #expect(try await api.sendGroup(from: UUID().uuidString, to: group).status == .notFound)
            #expect(try await api.sendGroup(from: alice, to: group, "").status == .badRequest)
            #expect(try await api.sendGroup(from: alice, to: group, "12345678901").status == .contentTooLarge)
            let badGroup = try await api.sendGroup(from: alice, to: "g")
            #expect(badGroup.status == .badRequest && badGroup.errorMessage.contains("groupId"))
            // Blocks do not apply to group messages.
            try await api.request(.post, "/users/block", object: ["blockerId": outsider, "blockedId": alice])
            try await api.request(.post, "/groups/\(group)/members", object: ["userId": outsider])
            #expect(try await api.sendGroup(from: alice, to: group).status == .accepted)
        }
    }
}
