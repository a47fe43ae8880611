import Messaging
import Testing

@Suite struct FanOutWorkerTests {
    let storage = InMemoryMessagingStorage()
    var service: MessagingService { MessagingService(storage: storage) }

    private func copies(of message: MessageID, in inbox: UserID) async throws -> [InboxMessage] {
        try await storage.readInbox(of: inbox, after: nil, limit: 10_000).filter { $0.messageID == message }
    }

    @Test func everyMemberIncludingTheSenderGetsOneCopy() async throws {
        let members = [try await service.newUser(), try await service.newUser(), try await service.newUser()]
        let outsider = try await service.newUser()
        let group = try await service.newGroup(members: members)
        let sent = try await service.sendGroupMessage(from: members[0], to: group, content: "hello")
        let worker = RunningWorker(storage: storage)
        try await eventually {
            for member in members where try await copies(of: sent.messageID, in: member).isEmpty { return false }
            return true
        }
        await worker.stop()
        for member in members {
            let copy = try #require(try await copies(of: sent.messageID, in: member).only)
            #expect(copy.sender == members[0] && copy.recipient == member && copy.groupID == group)
            #expect(copy.content == "hello" && copy.sentAt == sent.date && copy.date > sent.date)
        }
        #expect(try await copies(of: sent.messageID, in: outsider).isEmpty)
    }

    @Test func memberRemovedBeforeDeliveryDoesNotGetIt() async throws {
        let alice = try await service.newUser()
        let bob = try await service.newUser()
        let carol = try await service.newUser()
        let group = try await service.newGroup(members: [alice, bob])
        let sent = try await service.sendGroupMessage(from: alice, to: group, content: "x")
        try await service.removeMember(bob, from: group)
        try await service.addMember(carol, to: group)
        let worker = RunningWorker(storage: storage)
        try await eventually { try await !copies(of: sent.messageID, in: carol).isEmpty }
        try await eventually { try await !copies(of: sent.messageID, in: alice).isEmpty }
        await worker.stop()
        #expect(try await copies(of: sent.messageID, in: bob).isEmpty)
    }

    @Test func twoHundredMembersGetExactlyOneCopyEach() async throws {
        var members: [UserID] = []
        for _ in 0..<200 { members.append(try await service.newUser()) }
        let group = try await service.newGroup(members: members)
        var sent: [MessageID] = []
        for index in 0..<5 {
            sent.append(try await service.sendGroupMessage(from: members[index], to: group, content: "m\(index)").messageID)
        }
        let worker = RunningWorker(
            storage: storage, options: FanOutOptions(consumers: 3, membersPerBatch: 32, idlePollInterval: .milliseconds(10)))
        let last = members[199]
        let sentCount = sent.count
        try await eventually {
            try await storage.readInbox(of: last, after: nil, limit: 100).count == sentCount
        }
        try await eventually { try await storage.receiveGroupMessages(limit: 1, lease: .zero).isEmpty }
        await worker.stop()
        for member in members {
            let inbox = try await storage.readInbox(of: member, after: nil, limit: 100)
            #expect(inbox.map(\.messageID).sorted { $0.description < $1.description }
                == sent.sorted { $0.description < $1.description })
        }
    }

    @Test func redeliveryAfterACrashMidFanOutWritesNoSecondCopy() async throws {
        var members: [UserID] = []
        for _ in 0..<200 { members.append(try await service.newUser()) }
        let group = try await service.newGroup(members: members)
        let sent = try await service.sendGroupMessage(from: members[0], to: group, content: "once")

        // A consumer leases the message, writes the first 80 copies, then "crashes" (never acknowledges).
        let lease = try #require(try await storage.receiveGroupMessages(limit: 1, lease: .milliseconds(100)).only)
        #expect(try await storage.deliverGroupMessageCopies(lease.message, to: Array(members[0..<80])) == 80)
        #expect(try await storage.receiveGroupMessages(limit: 1, lease: .seconds(1)).isEmpty, "still leased")

        // After the lease expires, a new worker receives it again and finishes the job.
        let worker = RunningWorker(
            storage: storage, options: FanOutOptions(membersPerBatch: 50, lease: .seconds(5), idlePollInterval: .milliseconds(10)))
        let last = members[199]
        try await eventually { try await !copies(of: sent.messageID, in: last).isEmpty }
        try await eventually { try await storage.receiveGroupMessages(limit: 1, lease: .zero).isEmpty }
        await worker.stop()
        for member in members {
            #expect(try await copies(of: sent.messageID, in: member).count == 1)
        }
    }

    @Test func workerFailingMidFanOutFinishesAfterTheLeaseWithoutSecondCopies() async throws {
        var members: [UserID] = []
        for _ in 0..<50 { members.append(try await service.newUser()) }
        let group = try await service.newGroup(members: members)
        let sent = try await service.sendGroupMessage(from: members[0], to: group, content: "retry")
        // Batches of 10: the third batch fails once, after 20 copies were written.
        let faulty = FaultyStorage(storage, failingDeliveryCalls: [3])
        let worker = RunningWorker(
            storage: faulty,
            options: FanOutOptions(membersPerBatch: 10, lease: .milliseconds(100), idlePollInterval: .milliseconds(10)))
        let last = members[49]
        try await eventually { try await !copies(of: sent.messageID, in: last).isEmpty }
        try await eventually { try await storage.receiveGroupMessages(limit: 1, lease: .zero).isEmpty }
        await worker.stop()
        for member in members {
            #expect(try await copies(of: sent.messageID, in: member).count == 1)
        }
    }

    @Test func redeliveryOfAFullyWrittenButUnacknowledgedMessageWritesNothing() async throws {
        let alice = try await service.newUser()
        let bob = try await service.newUser()
        let group = try await service.newGroup(members: [alice, bob])
        _ = try await service.sendGroupMessage(from: alice, to: group, content: "x")
        let first = try #require(try await storage.receiveGroupMessages(limit: 1, lease: .zero).only)
        #expect(try await storage.deliverGroupMessageCopies(first.message, to: [alice, bob]) == 2)
        let second = try #require(try await storage.receiveGroupMessages(limit: 1, lease: .seconds(5)).only)
        #expect(second.deliveryAttempt == 2)
        #expect(try await storage.deliverGroupMessageCopies(second.message, to: [alice, bob]) == 0)
        try await storage.acknowledgeGroupMessage(second.message)
        try await storage.acknowledgeGroupMessage(second.message)
        #expect(try await storage.readInbox(of: bob, after: nil, limit: 10).count == 1)
    }

    @Test func stopLeavesAnUnfinishedMessageQueued() async throws {
        let alice = try await service.newUser()
        let group = try await service.newGroup(members: [alice])
        let worker = RunningWorker(storage: storage)
        await worker.stop()
        _ = try await service.sendGroupMessage(from: alice, to: group, content: "later")
        #expect(try await storage.readInbox(of: alice, after: nil, limit: 10).isEmpty)
        #expect(try await storage.receiveGroupMessages(limit: 1, lease: .zero).count == 1)
    }
}

extension Array {
    /// The single element, or nil if there are zero or several.
    var only: Element? { count == 1 ? first : nil }
}
