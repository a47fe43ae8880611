import Foundation
import Messaging
import MessagingEngineStorage
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
    ]

    struct StorageFactory: Sendable, CustomTestStringConvertible {
        var name: String
        var make: @Sendable () async throws -> any MessagingStorage
        var testDescription: String { name }
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
        #expect(try await storage.members(of: group).isEmpty)
        for user in [bob, alice, bob] { try await storage.addMember(user, to: group) }
        #expect(try await storage.members(of: group) == [bob, alice])
        #expect(try await storage.isMember(alice, of: group))
        for _ in 0..<2 { try await storage.removeMember(bob, from: group) }
        #expect(try await storage.members(of: group) == [alice])
        #expect(try await !storage.isMember(bob, of: group))
        try await storage.close()
    }

    @Test(arguments: factories)
    func datesAreUniqueAndIncreasingUnderConcurrentWriters(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let recipient = UserID.random()
        let group = GroupID.random()
        try await storage.createUser(recipient)
        try await storage.createGroup(group)
        let dates = try await withThrowingTaskGroup(of: [MessageDate].self) { tasks in
            for _ in 0..<4 {
                tasks.addTask {
                    var dates: [MessageDate] = []
                    for index in 0..<100 {
                        let message = OutgoingMessage(messageID: .random(), sender: recipient, content: "\(index)")
                        dates.append(
                            index % 2 == 0
                                ? try await storage.deliverDirectMessage(message, to: recipient)
                                : try await storage.enqueueGroupMessage(message, to: group))
                        #expect(dates.count < 2 || dates[dates.count - 2] < dates[dates.count - 1], "per writer increasing")
                    }
                    return dates
                }
            }
            return try await tasks.reduce(into: []) { $0 += $1 }
        }
        #expect(Set(dates).count == 400, "no two share a date")
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

    @Test(arguments: factories)
    func groupQueueLeasesProgressAndAcknowledgement(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let members = (0..<5).map { _ in UserID.random() }
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

        let leases = try await storage.receiveGroupMessages(limit: 10, lease: .seconds(60))
        #expect(leases.map(\.message.messageID) == [first.messageID, second.messageID], "oldest first")
        #expect(leases.allSatisfy { $0.deliveryAttempt == 1 })
        #expect(leases[0].message.sentAt == firstSentAt && leases[0].message.groupID == group)
        #expect(try await storage.receiveGroupMessages(limit: 10, lease: .seconds(60)).isEmpty, "leased")

        let lease = leases[0]
        #expect(try await storage.deliverGroupMessageCopies(lease.message, to: Array(members[0..<3])) == 3)
        #expect(try await storage.deliverGroupMessageCopies(lease.message, to: members) == 2, "done members skipped")
        #expect(try await storage.deliverGroupMessageCopies(lease.message, to: members) == 0)
        try await storage.acknowledgeGroupMessage(lease.message)
        try await storage.acknowledgeGroupMessage(lease.message)
        for member in members {
            let inbox = try await storage.readInbox(of: member, after: nil, limit: 10)
            #expect(inbox.count == 1)
            let copy = try #require(inbox.first)
            #expect(copy.messageID == first.messageID && copy.content == "first" && copy.recipient == member)
            #expect(copy.groupID == group && copy.sentAt == firstSentAt && copy.date > firstSentAt)
        }
        try await storage.close()
    }

    @Test(arguments: factories)
    func expiredLeaseIsReceivedAgain(factory: StorageFactory) async throws {
        let storage = try await factory.make()
        let group = GroupID.random()
        try await storage.createGroup(group)
        let message = OutgoingMessage(messageID: .random(), sender: .random(), content: "x")
        _ = try await storage.enqueueGroupMessage(message, to: group)
        #expect(try await storage.receiveGroupMessages(limit: 1, lease: .milliseconds(20)).count == 1)
        try await Task.sleep(for: .milliseconds(40))
        let again = try await storage.receiveGroupMessages(limit: 1, lease: .seconds(60))
        #expect(again.first?.deliveryAttempt == 2)
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
