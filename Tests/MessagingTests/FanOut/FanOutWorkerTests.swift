import Messaging
import Testing

@Suite struct FanOutWorkerTests {
    let storage = InMemoryMessagingStorage()
    var service: MessagingService { MessagingService(storage: storage) }

    private func copies(of message: MessageID, in inbox: UserID) async throws -> [InboxMessage] {
        try await storage.readInbox(of: inbox, after: nil, limit: 10_000).filter { $0.messageID == message }
    }

    private func queueIsEmpty() async throws -> Bool {
        try await storage.fanOutQueueStatistics().depth == 0
    }

    @Test func everyMemberIncludingTheSenderGetsOneCopy() async throws {
        let members = [try await service.newUser(), try await service.newUser(), try await service.newUser()]
        let outsider = try await service.newUser()
        let group = try await service.newGroup(members: members)
        let worker = RunningWorker(storage: storage)
        // The worker is idle in its long poll; the enqueue wakes it.
        try await Task.sleep(for: .milliseconds(20))
        let sent = try await service.sendGroupMessage(from: members[0], to: group, content: "hello")
        try await eventually {
            for member in members where try await copies(of: sent.messageID, in: member).isEmpty { return false }
            return true
        }
        try await eventually { try await queueIsEmpty() }
        await worker.stop()
        for member in members {
            let copy = try #require(try await copies(of: sent.messageID, in: member).only)
            #expect(copy.sender == members[0] && copy.recipient == member && copy.groupID == group)
            #expect(copy.content == "hello" && copy.sentAt == sent.date && copy.date > sent.date)
        }
        #expect(try await copies(of: sent.messageID, in: outsider).isEmpty)
        #expect(worker.worker.statistics.messagesDelivered == 1 && worker.worker.statistics.copiesWritten == 3)
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
        let worker = RunningWorker(storage: storage, options: FanOutOptions(consumers: 3, membersPerBatch: 32))
        try await eventually { try await queueIsEmpty() }
        await worker.stop()
        for member in members {
            let inbox = try await storage.readInbox(of: member, after: nil, limit: 100)
            #expect(inbox.map(\.messageID).sorted { $0.description < $1.description }
                == sent.sorted { $0.description < $1.description })
        }
    }

    @Test func redeliveryAfterACrashMidFanOutResumesAfterTheCursor() async throws {
        var members: [UserID] = []
        for _ in 0..<200 { members.append(try await service.newUser()) }
        let group = try await service.newGroup(members: members)
        let sent = try await service.sendGroupMessage(from: members[0], to: group, content: "once")

        // A consumer leases the message, writes the first 80 copies, then "crashes" (never acknowledges).
        let lease = try #require(try await storage.receiveGroupMessage(lease: .milliseconds(100), wait: .zero))
        #expect(try await storage.deliverGroupMessageBatch(lease, maxMembers: 80).copiesWritten == 80)
        #expect(try await storage.receiveGroupMessage(lease: .seconds(1), wait: .zero) == nil, "still leased")

        // After the lease expires, a worker receives it again and finishes the job after the cursor.
        let faulty = FaultyStorage(storage)
        let worker = RunningWorker(storage: faulty, options: FanOutOptions(membersPerBatch: 50, lease: .seconds(5)))
        try await eventually { try await queueIsEmpty() }
        await worker.stop()
        #expect(worker.worker.statistics.copiesWritten == 120)
        #expect(faulty.deliveryCalls == 3, "120 members after the cursor: batches of 50, 50, 20")
        for member in members {
            #expect(try await copies(of: sent.messageID, in: member).count == 1)
        }
    }

    @Test func transientFailuresAreRetriedUnderTheSameLease() async throws {
        var members: [UserID] = []
        for _ in 0..<50 { members.append(try await service.newUser()) }
        let group = try await service.newGroup(members: members)
        let sent = try await service.sendGroupMessage(from: members[0], to: group, content: "retry")
        // Batches of 10: the 3rd and 4th calls fail (after 20 copies were written), then it goes on.
        let faulty = FaultyStorage(storage, failingDeliveryCalls: [3, 4])
        let worker = RunningWorker(storage: faulty, options: FanOutOptions(membersPerBatch: 10, retryBackoff: .milliseconds(5)))
        try await eventually { try await queueIsEmpty() }
        await worker.stop()
        for member in members {
            #expect(try await copies(of: sent.messageID, in: member).count == 1)
        }
        let statistics = worker.worker.statistics
        #expect(statistics.transientFailures == 2 && statistics.messagesDelivered == 1 && statistics.deadLettered == 0)
        #expect(faulty.receivedCount == 1, "retried under its lease, never redelivered")
    }

    @Test func leaseIsExtendedSoALongFanOutIsNeverDoneTwiceInParallel() async throws {
        var members: [UserID] = []
        for _ in 0..<30 { members.append(try await service.newUser()) }
        let group = try await service.newGroup(members: members)
        let sent = try await service.sendGroupMessage(from: members[0], to: group, content: "long")
        // 30 batches of 1 member, 10 ms each: 300 ms of work on a 60 ms lease, two consumers.
        let slow = FaultyStorage(storage, batchDelay: .milliseconds(10))
        let worker = RunningWorker(storage: slow, options: FanOutOptions(consumers: 2, membersPerBatch: 1, lease: .milliseconds(60)))
        try await eventually { try await queueIsEmpty() }
        await worker.stop()
        let statistics = worker.worker.statistics
        #expect(slow.receivedCount == 1, "received once: the lease was extended while it made progress")
        #expect(statistics.leaseExtensions >= 3 && statistics.leasesLost == 0)
        for member in members {
            #expect(try await copies(of: sent.messageID, in: member).count == 1)
        }
    }

    @Test func permanentFailureParksTheMessageUntilARedrive() async throws {
        let alice = try await service.newUser()
        let bob = try await service.newUser()
        let group = try await service.newGroup(members: [alice, bob])
        let sent = try await service.sendGroupMessage(from: alice, to: group, content: "poison")
        let faulty = FaultyStorage(storage, failingDeliveryCalls: [1], permanent: true)
        let worker = RunningWorker(storage: faulty)
        try await eventually { try await storage.fanOutQueueStatistics().deadLetters == 1 }
        #expect(worker.worker.statistics.deadLettered == 1)
        #expect(try await storage.fanOutQueueStatistics().deadLetteredTotal == 1)
        #expect(try await copies(of: sent.messageID, in: bob).isEmpty)
        // The redrive puts it back; the idle worker is woken and delivers it.
        #expect(try await service.redriveGroupMessages() == 1)
        try await eventually { try await copies(of: sent.messageID, in: bob).count == 1 }
        try await eventually { try await queueIsEmpty() }
        await worker.stop()
        #expect(try await copies(of: sent.messageID, in: alice).count == 1)
    }

    @Test func redeliveryOfAFullyWrittenButUnacknowledgedMessageWritesNothing() async throws {
        let alice = try await service.newUser()
        let bob = try await service.newUser()
        let group = try await service.newGroup(members: [alice, bob])
        _ = try await service.sendGroupMessage(from: alice, to: group, content: "x")
        let first = try #require(try await storage.receiveGroupMessage(lease: .zero, wait: .zero))
        #expect(try await storage.deliverGroupMessageBatch(first, maxMembers: 10) == FanOutBatch(recipients: [alice, bob].sorted(), isComplete: true))
        let second = try #require(try await storage.receiveGroupMessage(lease: .seconds(5), wait: .zero))
        #expect(second.deliveryAttempt == 2)
        #expect(try await storage.deliverGroupMessageBatch(second, maxMembers: 10) == FanOutBatch(recipients: [], isComplete: true))
        try await storage.acknowledgeGroupMessage(first)  // stale lease: ignored
        try await storage.acknowledgeGroupMessage(second)
        try await storage.acknowledgeGroupMessage(second)
        #expect(try await storage.readInbox(of: bob, after: nil, limit: 10).count == 1)
        #expect(try await queueIsEmpty())
    }

    @Test func stopEndsAnIdleWorkerAtOnceAndLeavesMessagesQueued() async throws {
        let alice = try await service.newUser()
        let group = try await service.newGroup(members: [alice])
        let worker = RunningWorker(storage: storage, options: FanOutOptions(receiveWait: .seconds(60)))
        try await Task.sleep(for: .milliseconds(20))
        let started = ContinuousClock.now
        await worker.stop()
        #expect(ContinuousClock.now - started < .seconds(5), "the long poll is cancelled, not waited out")
        _ = try await service.sendGroupMessage(from: alice, to: group, content: "later")
        #expect(try await storage.readInbox(of: alice, after: nil, limit: 10).isEmpty)
        #expect(try await storage.fanOutQueueStatistics().depth == 1)
    }
}

extension Array {
    /// The single element, or nil if there are zero or several.
    var only: Element? { count == 1 ? first : nil }
}
