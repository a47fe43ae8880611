import Foundation
import Hummingbird
import Testing

@Suite struct InboxRouteTests {
    @Test func queryValidation() async throws {
        try await TestServer().test { api in
            let alice = try await api.newUser()
            #expect(try await api.inbox(UUID().uuidString).status == .notFound)
            let notUUID = try await api.inbox("alice")
            #expect(notUUID.status == .badRequest && notUUID.errorMessage.contains("recipient"))
            for query in ["date=yesterday", "date=2024-13-01T00:00:00Z", "limit=0", "limit=1001", "limit=ten", "limit=", "limit=+5", "limit=-1", "limit=%205", "limit=99999999999999999999"] {
                let response = try await api.inbox(alice, query: query)
                #expect(response.status == .badRequest && response.errorCode == "bad_request", "\(query)")
                #expect(response.errorMessage.contains(query.prefix(while: { $0 != "=" })), "\(response.errorMessage)")
            }
            for query in ["limit=1", "limit=1000", "date=2024-06-24T10:49:53Z", "date=2024-06-24T10:49:53.159123Z"] {
                #expect(try await api.inbox(alice, query: query).status == .ok, "\(query)")
            }
        }
    }

    /// Regression: `limit=1000` of 64 KiB messages full of control characters
    /// built one response of ~400 MB. A page now stops before the message that
    /// would pass the byte budget (4 MiB by default; 64 KiB here, with 8 KiB
    /// contents) and carries a token; paging reaches everything.
    @Test func pagesStopAtTheResponseByteBudget() async throws {
        try await TestServer(maxContentBytes: 8 * 1024, maxPageBytes: 64 * 1024).test { api in
            let alice = try await api.newUser()
            let bob = try await api.newUser()
            let heavy = String(repeating: "\u{01}", count: 8 * 1024)  // 6 bytes of JSON each
            for index in 0..<12 {
                #expect(try await api.send(from: alice, to: bob, index == 5 ? "light" : heavy).status == .created)
            }
            var contents: [String] = []
            var date: String?
            var pages = 0
            repeat {
                let response = try await api.request(.get, "/messages/\(bob)?limit=1000" + (date.map { "&date=\($0)" } ?? ""))
                #expect(response.status == .ok)
                #expect(response.body.count <= 64 * 1024, "page \(pages): \(response.body.count) bytes")
                let messages = response.json["messages"] as? [[String: Any]] ?? []
                #expect(!messages.isEmpty)
                contents += messages.compactMap { $0["content"] as? String }
                date = response.json["nextPageToken"] as? String
                #expect(date == nil || date == messages.last?["date"] as? String)
                pages += 1
            } while date != nil && pages < 20
            #expect(pages == 11, "one heavy message per page, the light one beside the fifth")
            #expect(contents == (0..<12).map { $0 == 5 ? "light" : heavy })
        }
    }

    @Test func pagingOverHTTP() async throws {
        try await TestServer().test { api in
            let alice = try await api.newUser()
            let bob = try await api.newUser()
            let group = try await api.newGroup(members: [alice, bob])
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for index in 0..<100 {
                    tasks.addTask {
                        let response =
                            index % 4 == 0
                            ? try await api.sendGroup(from: alice, to: group, "\(index)")
                            : try await api.send(from: alice, to: bob, "\(index)")
                        #expect(response.status == .created || response.status == .accepted)
                    }
                }
                try await tasks.waitForAll()
            }
            try await api.waitForInbox(bob, count: 100)
            for limit in [nil, 10, 25, 100, 1000] as [Int?] {
                let messages = try await api.wholeInbox(bob, limit: limit)
                #expect(messages.count == 100)
                #expect(Set(messages.compactMap { $0["messageId"] as? String }).count == 100)
                let dates = messages.compactMap { $0["date"] as? String }
                #expect(dates == dates.sorted() && Set(dates).count == 100)
            }
            // Exactly full last page: no token (key absent, not null).
            let full = try await api.inbox(bob, query: "limit=100")
            #expect(full.json.keys.contains("nextPageToken") == false)
            #expect(String(decoding: full.body, as: UTF8.self).contains("nextPageToken") == false)
            let firstPage = try await api.inbox(bob, query: "limit=99")
            let token = try #require(firstPage.json["nextPageToken"] as? String)
            let last = try await api.inbox(bob, query: "limit=1&date=\(token)")
            #expect((last.json["messages"] as? [Any])?.count == 1 && last.json["nextPageToken"] == nil)
        }
    }
}
