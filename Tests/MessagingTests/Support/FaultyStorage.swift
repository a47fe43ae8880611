import Messaging
import Synchronization

/// A ``MessagingStorage`` that forwards to another and fails chosen
/// `deliverGroupMessageCopies` calls, like a crash between two fan-out batches.
final class FaultyStorage: MessagingStorage {
    struct InjectedFault: Error {}

    let base: any MessagingStorage
    /// 1-based numbers of the `deliverGroupMessageCopies` calls that throw instead of writing.
    private let failingCalls: Set<Int>
    private let calls = Atomic<Int>(0)

    init(_ base: any MessagingStorage, failingDeliveryCalls: Set<Int>) {
        self.base = base
        self.failingCalls = failingDeliveryCalls
    }

    func deliverGroupMessageCopies(_ message: QueuedGroupMessage, to members: [UserID]) async throws -> Int {
        let call = calls.add(1, ordering: .relaxed).newValue
        if failingCalls.contains(call) { throw InjectedFault() }
        return try await base.deliverGroupMessageCopies(message, to: members)
    }

    func createUser(_ user: UserID) async throws { try await base.createUser(user) }
    func userExists(_ user: UserID) async throws -> Bool { try await base.userExists(user) }
    func setBlock(blocker: UserID, blocked: UserID, isBlocked: Bool) async throws {
        try await base.setBlock(blocker: blocker, blocked: blocked, isBlocked: isBlocked)
    }
    func isBlocked(blocker: UserID, blocked: UserID) async throws -> Bool {
        try await base.isBlocked(blocker: blocker, blocked: blocked)
    }
    func createGroup(_ group: GroupID) async throws { try await base.createGroup(group) }
    func groupExists(_ group: GroupID) async throws -> Bool { try await base.groupExists(group) }
    func addMember(_ user: UserID, to group: GroupID) async throws { try await base.addMember(user, to: group) }
    func removeMember(_ user: UserID, from group: GroupID) async throws { try await base.removeMember(user, from: group) }
    func members(of group: GroupID) async throws -> [UserID] { try await base.members(of: group) }
    func isMember(_ user: UserID, of group: GroupID) async throws -> Bool { try await base.isMember(user, of: group) }
    func deliverDirectMessage(_ message: OutgoingMessage, to recipient: UserID) async throws -> MessageDate {
        try await base.deliverDirectMessage(message, to: recipient)
    }
    func enqueueGroupMessage(_ message: OutgoingMessage, to group: GroupID) async throws -> MessageDate {
        try await base.enqueueGroupMessage(message, to: group)
    }
    func receiveGroupMessages(limit: Int, lease: Duration) async throws -> [GroupMessageLease] {
        try await base.receiveGroupMessages(limit: limit, lease: lease)
    }
    func acknowledgeGroupMessage(_ message: QueuedGroupMessage) async throws { try await base.acknowledgeGroupMessage(message) }
    func readInbox(of recipient: UserID, after: MessageDate?, limit: Int) async throws -> [InboxMessage] {
        try await base.readInbox(of: recipient, after: after, limit: limit)
    }
    func close() async throws { try await base.close() }
}
