import Foundation
import Messaging
import MessagingEngineStorage
import MessagingPostgresStorage
import PostgresTestSupport
import Synchronization
import Testing

/// The contract of ``MessagingStorage`` as checks any implementation must pass.
/// Add an engine-backed factory to `factories` to run them against it.
@Suite struct StorageConformanceTests {
    /// Named factories of fresh, empty stores.
    static let factories: [StorageFactory] = [
        StorageFactory(name: "in-memory") { InMemoryMessagingStorage() },
        StorageFactory(name: "engine") {
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("msgstore-conformance-\(UUID().uuidString)").path
            return try EngineMessagingStorage(options: EngineStorageOptions(dataDirectory: directory, sync: .none))
        },
        // A fresh database on the test process's throwaway PostgreSQL server (TestPostgres).
        StorageFactory(name: "postgres", hasOneClock: false) {
            let url = try TestPostgres.shared().createDatabase()
            return try await PostgresMessagingStorage.open(options: PostgresStorageOptions(url: url, maxConnections: 8))
        },
    ]

    struct StorageFactory: Sendable, CustomTestStringConvertible {
        var name: String
        /// Whether every date of the store comes from one clock (unique across inboxes and groups):
        /// true for a single-process store; a distributed one keeps a clock per inbox and per group.
        var hasOneClock = true
        var make: @Sendable () async throws -> any MessagingStorage
        var testDescription: String { name }

        init(name: String, hasOneClock: Bool = true, make: @escaping @Sendable () async throws -> any MessagingStorage) {
            self.name = name
            self.hasOneClock = hasOneClock
            self.make = make
        }
    }

    @Test(arguments: factories)
    func usersBlocksGroupsAreIdempotent(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let alice = UserID.random()
        let bob = UserID.random()
        #expect(try await !storage.userExists(alice))
        try await storage.createUser(alice)
        try await storage.createUser(bob)
        #expect(try await storage.userExists(alice))
        for _ in 0..<2 { try await storage.setBlock(blocker: alice, blocked: bob, isBlocked: true) }
        #expect(try await storage.isBlocked(blocker: alice, blocked: bob))
        #expect(try await !storage.isBlocked(blocker: bob, blocked: alice))
        for _ in 0..<2 { try await storage.setBlock(blocker: alice, blocked: bob, isBlocked: false) }
        #expect(try await !storage.isBlocked(blocker: alice, blocked: bob))
        let group = GroupID.random()
        #expect(try await !storage.groupExists(group))
        try await storage.createGroup(group)
        #expect(try await storage.groupExists(group))
        #expect(try await storage.members(of: group, after: nil, limit: 10).isEmpty)
        for user in [bob, alice, bob] { try await storage.addMember(user, to: group) }
        #expect(try await storage.members(of: group, after: nil, limit: 10) == [bob, alice].sorted())
        #expect(try await storage.isMember(alice, of: group))
        for _ in 0..<2 { try await storage.removeMember(bob, from: group) }
        #expect(try await storage.members(of: group, after: nil, limit: 10) == [alice])
        #expect(try await !storage.isMember(bob, of: group))
        try await storage.close()
    }

    /// Regression: a cursor before 1970 (a negative microsecond count) read as an
    /// unsigned key on the engine, which sorts after every date, and gave an empty
    /// inbox there while the in-memory storage gave everything. Every cursor,
    /// down to `Int64.min` and up to `Int64.max`, means the same on every storage.
    @Test(arguments: factories)
    func cursorsBefore1970AndFarInTheFutureMeanTheSameEverywhere(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let recipient = UserID.random()
        let sender = UserID.random()
        try await storage.createUser(recipient)
        try await storage.createUser(sender)
        var dates: [MessageDate] = []
        for index in 0..<3 {
            dates.append(try await storage.deliverDirectMessage(
                OutgoingMessage(messageID: .random(), sender: sender, content: "m\(index)"), to: recipient))
        }
        let early: [MessageDate] = [
            MessageDate(microsecondsSinceEpoch: -1), MessageDate(iso8601: "1969-12-31T00:00:00Z")!,
            MessageDate(iso8601: "0000-01-01T00:00:00Z")!, MessageDate(microsecondsSinceEpoch: .min),
            MessageDate(microsecondsSinceEpoch: 0),
        ]
        for cursor in early {
            let page = try await storage.readInbox(of: recipient, after: cursor, limit: 10)
            #expect(page.map(\.date) == dates, "after \(cursor.microsecondsSinceEpoch)")
        }
        let late: [MessageDate] = [
            MessageDate(iso8601: "9999-12-31T23:59:59.999999Z")!, MessageDate(microsecondsSinceEpoch: .max), dates[2],
        ]
        for cursor in late {
            #expect(try await storage.readInbox(of: recipient, after: cursor, limit: 10).isEmpty, "after \(cursor.microsecondsSinceEpoch)")
        }
        #expect(try await storage.readInbox(of: recipient, after: dates[0], limit: 10).map(\.date) == Array(dates[1...]))
        try await storage.close()
    }

    @Test(arguments: factories)
    func datesAreUniqueAndIncreasingUnderConcurrentWriters(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let recipient = UserID.random()
        let group = GroupID.random()
        try await storage.createUser(recipient)
        try await storage.createGroup(group)
        // (index, date) of every write: even indexes direct sends, odd ones group sends.
        let dates = try await withThrowingTaskGroup(of: [(Int, MessageDate)].self) { tasks in
            for _ in 0..<4 {
                tasks.addTask {
                    var dates: [(Int, MessageDate)] = []
                    for index in 0..<100 {
                        let message = OutgoingMessage(messageID: .random(), sender: recipient, content: "\(index)")
                        dates.append((index,
                            index % 2 == 0
                                ? try await storage.deliverDirectMessage(message, to: recipient)
                                : try await storage.enqueueGroupMessage(message, to: group)))
                        #expect(dates.count < 2 || dates[dates.count - 2].1 < dates[dates.count - 1].1, "per writer increasing")
                    }
                    return dates
                }
            }
            return try await tasks.reduce(into: []) { $0 += $1 }
        }
        if factory.hasOneClock {
            #expect(Set(dates.map(\.1)).count == 400, "no two share a date")
        } else {
            // A clock per inbox and one per group: unique within each.
            #expect(Set(dates.filter { $0.0 % 2 == 0 }.map(\.1)).count == 200, "no two direct dates of the inbox alike")
            #expect(Set(dates.filter { $0.0 % 2 == 1 }.map(\.1)).count == 200, "no two sentAt of the group alike")
        }
        let inbox = try await storage.readInbox(of: recipient, after: nil, limit: 1000)
        #expect(inbox.count == 200)
        #expect(zip(inbox, inbox.dropFirst()).allSatisfy { $0.date < $1.date })
        #expect(inbox.allSatisfy { $0.date == $0.sentAt && $0.groupID == nil })
        try await storage.close()
    }

    @Test(arguments: factories)
    func readInboxIsStrictlyAfterAndLimited(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let alice = UserID.random()
        try await storage.createUser(alice)
        var dates: [MessageDate] = []
        for index in 0..<10 {
            let message = OutgoingMessage(messageID: .random(), sender: alice, content: "\(index)")
            dates.append(try await storage.deliverDirectMessage(message, to: alice))
        }
        #expect(try await storage.readInbox(of: alice, after: nil, limit: 3).map(\.date) == Array(dates[0..<3]))
        #expect(try await storage.readInbox(of: alice, after: dates[2], limit: 3).map(\.date) == Array(dates[3..<6]))
        #expect(try await storage.readInbox(of: alice, after: dates[9], limit: 3).isEmpty)
        let between = MessageDate(microsecondsSinceEpoch: dates[4].microsecondsSinceEpoch - 1)
        #expect(try await storage.readInbox(of: alice, after: between, limit: 1).first?.date == dates[4])
        #expect(try await storage.readInbox(of: UserID.random(), after: nil, limit: 3).isEmpty)
        try await storage.close()
    }

    /// Member lists page by user id: `after` is exclusive, `limit` bounds the page.
    @Test(arguments: factories)
    func membersPageByID(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let group = GroupID.random()
        try await storage.createGroup(group)
        let users = (0..<9).map { _ in UserID.random() }
        for user in users { try await storage.addMember(user, to: group) }
        let sorted = users.sorted()
        #expect(try await storage.members(of: group, after: nil, limit: 100) == sorted)
        #expect(try await storage.members(of: group, after: nil, limit: 4) == Array(sorted[..<4]))
        #expect(try await storage.members(of: group, after: sorted[3], limit: 4) == Array(sorted[4..<8]))
        #expect(try await storage.members(of: group, after: sorted[8], limit: 4).isEmpty)
        try await storage.removeMember(sorted[5], from: group)
        #expect(try await storage.members(of: group, after: sorted[3], limit: 2) == [sorted[4], sorted[6]])
        #expect(try await storage.members(of: GroupID.random(), after: nil, limit: 2).isEmpty)
        try await storage.close()
    }

    /// An inbox read stops after the entry at which the content total passes
    /// `maxContentBytes`, for direct entries and group copies alike.
    @Test(arguments: factories)
    func inboxReadsStopAtTheContentBudget(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let recipient = UserID.random()
        let sender = UserID.random()
        let group = GroupID.random()
        try await storage.createUser(recipient)
        try await storage.createUser(sender)
        try await storage.createGroup(group)
        try await storage.addMember(recipient, to: group)
        // Contents of 100 bytes: direct, direct, a group copy, direct, direct.
        func content(_ index: Int) -> String { String(repeating: Character(String(index)), count: 100) }
        for index in 0..<2 {
            _ = try await storage.deliverDirectMessage(OutgoingMessage(messageID: .random(), sender: sender, content: content(index)), to: recipient)
        }
        _ = try await storage.enqueueGroupMessage(OutgoingMessage(messageID: .random(), sender: sender, content: content(2)), to: group)
        let lease = try #require(try await storage.receiveGroupMessage(lease: .seconds(60), wait: .zero))
        _ = try await storage.deliverGroupMessageBatch(lease, maxMembers: 10)
        try await storage.acknowledgeGroupMessage(lease)
        for index in 3..<5 {
            _ = try await storage.deliverDirectMessage(OutgoingMessage(messageID: .random(), sender: sender, content: content(index)), to: recipient)
        }
        for (budget, expected) in [(0, 1), (99, 1), (100, 2), (199, 2), (200, 3), (250, 3), (300, 4), (499, 5), (500, 5), (Int.max, 5)] {
            let page = try await storage.readInbox(of: recipient, after: nil, limit: 10, maxContentBytes: budget)
            #expect(page.map(\.content) == (0..<expected).map(content), "budget \(budget)")
        }
        #expect(try await storage.readInbox(of: recipient, after: nil, limit: 2, maxContentBytes: .max).count == 2)
        try await storage.close()
    }

    @Test(arguments: factories)
    func groupQueueLeasesCursorAndAcknowledgement(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let members = (0..<5).map { _ in UserID.random() }.sorted()
        let group = GroupID.random()
        try await storage.createGroup(group)
        for member in members {
            try await storage.createUser(member)
            try await storage.addMember(member, to: group)
        }
        let first = OutgoingMessage(messageID: .random(), sender: members[0], content: "first")
        let second = OutgoingMessage(messageID: .random(), sender: members[1], content: "second")
        let firstSentAt = try await storage.enqueueGroupMessage(first, to: group)
        let secondSentAt = try await storage.enqueueGroupMessage(second, to: group)
        #expect(firstSentAt < secondSentAt)
        #expect(try await storage.readInbox(of: members[0], after: nil, limit: 10).isEmpty, "queued, not delivered")
        #expect(try await storage.fanOutQueueStatistics().depth == 2)

        let lease = try #require(try await storage.receiveGroupMessage(lease: .seconds(60), wait: .zero))
        let other = try #require(try await storage.receiveGroupMessage(lease: .seconds(60), wait: .zero))
        #expect([lease.message.messageID, other.message.messageID] == [first.messageID, second.messageID], "oldest first")
        #expect(lease.deliveryAttempt == 1 && other.deliveryAttempt == 1)
        #expect(lease.message.sentAt == firstSentAt && lease.message.groupID == group && lease.message.sender == members[0])
        #expect(try await storage.receiveGroupMessage(lease: .seconds(60), wait: .zero) == nil, "leased")

        // Batches of 2 in user id order: 2, 2, then the last 1; each names the members it wrote to.
        #expect(try await storage.deliverGroupMessageBatch(lease, maxMembers: 2) == FanOutBatch(recipients: Array(members[0..<2]), isComplete: false))
        #expect(try await storage.readInbox(of: members[1], after: nil, limit: 10).count == 1)
        #expect(try await storage.readInbox(of: members[2], after: nil, limit: 10).isEmpty, "after the cursor")
        #expect(try await storage.deliverGroupMessageBatch(lease, maxMembers: 2) == FanOutBatch(recipients: Array(members[2..<4]), isComplete: false))
        #expect(try await storage.deliverGroupMessageBatch(lease, maxMembers: 2) == FanOutBatch(recipients: [members[4]], isComplete: true))
        #expect(try await storage.deliverGroupMessageBatch(lease, maxMembers: 2) == FanOutBatch(recipients: [], isComplete: true),
                "delivered: nothing more")
        try await storage.acknowledgeGroupMessage(lease)
        try await storage.acknowledgeGroupMessage(lease)
        for member in members {
            let inbox = try await storage.readInbox(of: member, after: nil, limit: 10)
            #expect(inbox.count == 1)
            let copy = try #require(inbox.first)
            #expect(copy.messageID == first.messageID && copy.content == "first" && copy.recipient == member)
            #expect(copy.groupID == group && copy.sentAt == firstSentAt && copy.date > firstSentAt)
        }
        #expect(try await storage.fanOutQueueStatistics().depth == 1)
        try await storage.close()
    }

    @Test(arguments: factories)
    func expiredLeaseIsReceivedAgainAndAnExtendedOneIsNot(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let group = GroupID.random()
        try await storage.createGroup(group)
        let message = OutgoingMessage(messageID: .random(), sender: .random(), content: "x")
        _ = try await storage.enqueueGroupMessage(message, to: group)
        let first = try #require(try await storage.receiveGroupMessage(lease: .milliseconds(100), wait: .zero))
        // Extended before it ran out: not received by anyone else meanwhile.
        let extended = try await storage.extendGroupMessageLease(first, by: .seconds(60))
        try await Task.sleep(for: .milliseconds(150))
        #expect(try await storage.receiveGroupMessage(lease: .seconds(60), wait: .zero) == nil)
        _ = try await storage.extendGroupMessageLease(extended, by: .milliseconds(20))
        // Past it, a long poll gets it again (woken by the lease running out), as the 2nd delivery.
        let again = try #require(try await storage.receiveGroupMessage(lease: .seconds(60), wait: .seconds(5)))
        #expect(again.deliveryAttempt == 2)
        // The old holder's lease is lost: it can neither extend it nor park it.
        let lost = await #expect(throws: FanOutError.self) { _ = try await storage.extendGroupMessageLease(extended, by: .seconds(1)) }
        #expect(lost?.kind == .leaseLost)
        try await storage.close()
    }

    @Test(arguments: factories)
    func longPollIsWokenByAnEnqueue(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let group = GroupID.random()
        try await storage.createGroup(group)
        let receiver = Task { try await storage.receiveGroupMessage(lease: .seconds(60), wait: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(50))
        let started = ContinuousClock.now
        let message = OutgoingMessage(messageID: .random(), sender: .random(), content: "wake")
        _ = try await storage.enqueueGroupMessage(message, to: group)
        let lease = try #require(try await receiver.value)
        #expect(lease.message.messageID == message.messageID)
        #expect(ContinuousClock.now - started < .seconds(5), "woken, not timed out")
        // Cancellation ends a long poll at once.
        let idle = Task { try await storage.receiveGroupMessage(lease: .seconds(60), wait: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(20))
        idle.cancel()
        _ = try? await idle.value
        #expect(ContinuousClock.now - started < .seconds(10))
        try await storage.close()
    }

    /// The membership rule (docs/fanout.md): members are read at delivery, batch by batch, in user id
    /// order after the cursor. A member removed before their batch gets nothing; a member added
    /// mid-fan-out gets the message iff their id sorts after the cursor.
    @Test(arguments: factories)
    func membershipChangesMidFanOut(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let ids = (0..<8).map { _ in UserID.random() }.sorted()
        let group = GroupID.random()
        try await storage.createGroup(group)
        for user in ids { try await storage.createUser(user) }
        // Members at send: 0, 2, 4, 6 (1, 3, 5, 7 join later).
        for index in [0, 2, 4, 6] { try await storage.addMember(ids[index], to: group) }
        let message = OutgoingMessage(messageID: .random(), sender: ids[0], content: "rule")
        _ = try await storage.enqueueGroupMessage(message, to: group)
        let lease = try #require(try await storage.receiveGroupMessage(lease: .seconds(60), wait: .zero))
        #expect(try await storage.deliverGroupMessageBatch(lease, maxMembers: 2).copiesWritten == 2)  // 0, 2; cursor = 2
        try await storage.addMember(ids[1], to: group)     // sorts before the cursor: misses it
        try await storage.addMember(ids[5], to: group)     // after the cursor: gets it
        try await storage.removeMember(ids[6], from: group)  // removed before their batch: nothing
        var batch = try await storage.deliverGroupMessageBatch(lease, maxMembers: 2)  // 4, 5
        while !batch.isComplete { batch = try await storage.deliverGroupMessageBatch(lease, maxMembers: 2) }
        try await storage.acknowledgeGroupMessage(lease)
        var got: [Int] = []
        for (index, user) in ids.enumerated() {
            let count = try await storage.readInbox(of: user, after: nil, limit: 10).count
            #expect(count <= 1)
            if count == 1 { got.append(index) }
        }
        #expect(got == [0, 2, 4, 5])
        try await storage.close()
    }

    @Test(arguments: factories)
    func deadLetteredMessageWaitsForARedrive(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let alice = UserID.random()
        let group = GroupID.random()
        try await storage.createUser(alice)
        try await storage.createGroup(group)
        try await storage.addMember(alice, to: group)
        let message = OutgoingMessage(messageID: .random(), sender: alice, content: "parked")
        _ = try await storage.enqueueGroupMessage(message, to: group)
        let lease = try #require(try await storage.receiveGroupMessage(lease: .seconds(60), wait: .zero))
        try await storage.deadLetterGroupMessage(lease, reason: "test")
        #expect(try await storage.fanOutQueueStatistics() == FanOutQueueStatistics(depth: 0, inFlight: 0, deadLetters: 1, deadLetteredTotal: 1))
        #expect(try await storage.receiveGroupMessage(lease: .seconds(60), wait: .milliseconds(50)) == nil)
        #expect(try await storage.redriveGroupMessages() == 1)
        #expect(try await storage.redriveGroupMessages() == 0)
        let again = try #require(try await storage.receiveGroupMessage(lease: .seconds(60), wait: .zero))
        #expect(again.message.messageID == message.messageID)
        #expect(try await storage.deliverGroupMessageBatch(again, maxMembers: 10) == FanOutBatch(recipients: [alice], isComplete: true))
        try await storage.acknowledgeGroupMessage(again)
        #expect(try await storage.readInbox(of: alice, after: nil, limit: 10).map(\.content) == ["parked"])
        try await storage.close()
    }

    @Test(arguments: factories)
    func closedStoreThrowsUnavailable(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        try await storage.close()
        let error = await #expect(throws: MessagingError.self) { try await storage.createUser(.random()) }
        #expect(error?.code == .unavailable)
    }
}
