import Messaging
import Synchronization

/// A ``MessagingStorage`` that forwards to another and fails chosen
/// `deliverGroupMessageBatch` calls before writing (a transient failure: a
/// full disk, an unavailable store), or with a permanent ``FanOutError``.
final class FaultyStorage: MessagingStorage {
    struct InjectedFault: Error {}

    let base: any MessagingStorage
    /// 1-based numbers of the `deliverGroupMessageBatch` calls that throw instead of writing.
    private let failingCalls: Set<Int>
    /// When true, every failing call throws a permanent ``FanOutError``.
    private let permanent: Bool
    /// A pause before every batch (a slow disk).
    private let batchDelay: Duration
    private let calls = Atomic<Int>(0)
    private let receives = Atomic<Int>(0)

    init(_ base: any MessagingStorage, failingDeliveryCalls: Set<Int> = [], permanent: Bool = false, batchDelay: Duration = .zero) {
        self.base = base
        self.failingCalls = failingDeliveryCalls
        self.permanent = permanent
        self.batchDelay = batchDelay
    }

    /// Messages handed out by `receiveGroupMessage` so far.
    var receivedCount: Int { receives.load(ordering: .relaxed) }

    /// `deliverGroupMessageBatch` calls so far.
    var deliveryCalls: Int { calls.load(ordering: .relaxed) }

    func deliverGroupMessageBatch(_ lease: GroupMessageLease, maxMembers: Int) async throws -> FanOutBatch {
        let call = calls.add(1, ordering: .relaxed).newValue
        if batchDelay > .zero { try await Task.sleep(for: batchDelay) }
        if failingCalls.contains(call) {
            if permanent { throw FanOutError(.permanent, "injected permanent failure") }
            throw InjectedFault()
        }
        return try await base.deliverGroupMessageBatch(lease, maxMembers: maxMembers)
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
    func members(of group: GroupID, after: UserID?, limit: Int) async throws -> [UserID] {
        try await base.members(of: group, after: after, limit: limit)
    }
    func isMember(_ user: UserID, of group: GroupID) async throws -> Bool { try await base.isMember(user, of: group) }
    func deliverDirectMessage(_ message: OutgoingMessage, to recipient: UserID) async throws -> MessageDate {
        try await base.deliverDirectMessage(message, to: recipient)
    }
    func enqueueGroupMessage(_ message: OutgoingMessage, to group: GroupID) async throws -> MessageDate {
        try await base.enqueueGroupMessage(message, to: group)
    }
    func receiveGroupMessage(lease: Duration, wait: Duration) async throws -> GroupMessageLease? {
        let lease = try await base.receiveGroupMessage(lease: lease, wait: wait)
        if lease != nil { receives.add(1, ordering: .relaxed) }
        return lease
    }
    func extendGroupMessageLease(_ lease: GroupMessageLease, by duration: Duration) async throws -> GroupMessageLease {
        try await base.extendGroupMessageLease(lease, by: duration)
    }
    func acknowledgeGroupMessage(_ lease: GroupMessageLease) async throws { try await base.acknowledgeGroupMessage(lease) }
    func deadLetterGroupMessage(_ lease: GroupMessageLease, reason: String) async throws {
        try await base.deadLetterGroupMessage(lease, reason: reason)
    }
    func redriveGroupMessages() async throws -> Int { try await base.redriveGroupMessages() }
    func fanOutQueueStatistics() async throws -> FanOutQueueStatistics { try await base.fanOutQueueStatistics() }
    func readInbox(of recipient: UserID, after: MessageDate?, limit: Int, maxContentBytes: Int) async throws -> [InboxMessage] {
        try await base.readInbox(of: recipient, after: after, limit: limit, maxContentBytes: maxContentBytes)
    }
    func close() async throws { try await base.close() }
}
