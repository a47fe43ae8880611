import Messaging
import Testing

/// A client polling one inbox with the last `date` it saw, while direct and
/// group messages are sent concurrently, sees every message exactly once, in order.
@Suite struct PollingTests {
    @Test func pollerSeesEveryMessageOnceInOrder() async throws {
        let storage = InMemoryMessagingStorage()
        let worker = RunningWorker(storage: storage, options: FanOutOptions(consumers: 3, membersPerBatch: 2))
        let service = MessagingService(storage: storage)
        let reader = try await service.newUser()
        var senders: [UserID] = []
        for _ in 0..<4 { senders.append(try await service.newUser()) }
        var bystanders: [UserID] = []
        for _ in 0..<6 { bystanders.append(try await service.newUser()) }
        let group = try await service.newGroup(members: bystanders + [reader] + senders)
        let perSender = 60
        let expected = senders.count * perSender

        let seen = try await withThrowingTaskGroup(of: [InboxMessage].self) { tasks in
            for sender in senders {
                tasks.addTask {
                    for number in 0..<perSender {
                        if number % 3 == 0 {
                            _ = try await service.sendGroupMessage(from: sender, to: group, content: "g\(number)")
                        } else {
                            _ = try await service.sendDirectMessage(from: sender, to: reader, content: "d\(number)")
                        }
                        if number % 10 == 0 { await Task.yield() }
                    }
                    return []
                }
            }
            tasks.addTask {
                var seen: [InboxMessage] = []
                var cursor: MessageDate?
                let deadline = ContinuousClock.now + .seconds(20)
                while seen.count < expected && ContinuousClock.now < deadline {
                    let page = try await service.inbox(of: reader, after: cursor, limit: 7)
                    seen += page.messages
                    cursor = page.messages.last?.date ?? cursor
                    if page.messages.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
                }
                return seen
            }
            return try await tasks.reduce(into: []) { $0 += $1 }
        }
        await worker.stop()
        #expect(seen.count == expected)
        #expect(Set(seen.map(\.messageID)).count == expected, "no message twice")
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.date < $1.date }, "in date order")
        let all = try await readWholeInbox(service, of: reader, limit: 1000)
        #expect(all.map(\.messageID) == seen.map(\.messageID), "nothing missed")
    }
}
