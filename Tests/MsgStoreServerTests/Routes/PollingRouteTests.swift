import Foundation
import Hummingbird
import Testing

/// Over HTTP: a client polling `GET /messages/{me}?date=<last date seen>` while
/// direct and group messages are sent concurrently sees each exactly once, in order.
@Suite struct PollingRouteTests {
    @Test func pollingWithTheLastDateSeenMissesNothing() async throws {
        try await TestServer().test { api in
            let reader = try await api.newUser()
            var senders: [String] = []
            for _ in 0..<3 { senders.append(try await api.newUser()) }
            let group = try await api.newGroup(members: [reader] + senders)
            let perSender = 40
            let expected = senders.count * perSender
            let seen = try await withThrowingTaskGroup(of: [String].self) { tasks in
                for sender in senders {
                    tasks.addTask {
                        for number in 0..<perSender {
                            let response =
                                number % 2 == 0
                                ? try await api.sendGroup(from: sender, to: group, "g\(number)")
                                : try await api.send(from: sender, to: reader, "d\(number)")
                            #expect(response.status == .created || response.status == .accepted)
                        }
                        return []
                    }
                }
                tasks.addTask {
                    var seen: [String] = []
                    var lastDate: String?
                    let deadline = ContinuousClock.now + .seconds(20)
                    while seen.count < expected && ContinuousClock.now < deadline {
                        let page = try await api.inbox(reader, query: "limit=5" + (lastDate.map { "&date=\($0)" } ?? ""))
                        let messages = page.json["messages"] as? [[String: Any]] ?? []
                        for message in messages {
                            let date = try #require(message["date"] as? String)
                            #expect(lastDate.map { $0 < date } ?? true, "ascending, strictly after the cursor")
                            lastDate = date
                            seen.append(try #require(message["messageId"] as? String))
                        }
                        if messages.isEmpty { try await Task.sleep(for: .milliseconds(2)) }
                    }
                    return seen
                }
                return try await tasks.reduce(into: []) { $0 += $1 }
            }
            #expect(seen.count == expected)
            #expect(Set(seen).count == expected, "each exactly once")
        }
    }
}
