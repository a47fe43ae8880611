import Messaging
import Testing

/// ~500 direct and group messages sent concurrently, then walked page by page.
@Suite struct PagingTests {
    @Test(arguments: [nil, 1, 7, 50, 1000] as [Int?])
    func everyMessageOnceAscending(limit: Int?) async throws {
        let storage = InMemoryMessagingStorage()
        let worker = RunningWorker(storage: storage)
        let service = MessagingService(storage: storage)
        let reader = try await service.newUser()
        var senders: [UserID] = []
        for _ in 0..<6 { senders.append(try await service.newUser()) }
        let group = try await service.newGroup(members: [reader] + senders)

        let sent = try await withThrowingTaskGroup(of: [MessageID].self) { tasks in
            for (index, sender) in senders.enumerated() {
                tasks.addTask {
                    var ids: [MessageID] = []
                    for number in 0..<84 {
                        let content = "\(index)-\(number)"
                        if number % 2 == 0 {
                            ids.append(try await service.sendDirectMessage(from: sender, to: reader, content: content).messageID)
                        } else {
                            ids.append(try await service.sendGroupMessage(from: sender, to: group, content: content).messageID)
                        }
                    }
                    return ids
                }
            }
            return try await tasks.reduce(into: []) { $0 += $1 }
        }
        #expect(sent.count == 504)
        try await eventually("fan-out") {
            try await readWholeInbox(service, of: reader, limit: 1000).count == sent.count
        }
        await worker.stop()

        let messages = try await readWholeInbox(service, of: reader, limit: limit)
        #expect(messages.count == sent.count)
        #expect(Set(messages.map(\.messageID)) == Set(sent))
        #expect(zip(messages, messages.dropFirst()).allSatisfy { $0.date < $1.date }, "strictly ascending")
        #expect(messages.allSatisfy { $0.recipient == reader && $0.date >= $0.sentAt })
    }
}
