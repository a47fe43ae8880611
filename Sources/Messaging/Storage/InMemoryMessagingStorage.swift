import Synchronization

/// A ``MessagingStorage`` in memory: correct semantics, no durability.
///
/// Every operation runs under one lock, so each is atomic, and dates are taken
/// from the clock under the same lock as the insert: an inbox is only ever
/// appended to, in date order. A group message's body is stored once
/// (``GroupMessageBody``, shared by reference by every member's entry).
/// Used by tests and by `msgstore serve --storage memory`.
public final class InMemoryMessagingStorage: MessagingStorage {
    /// The body of a group message, stored once and referenced by every copy.
    final class GroupMessageBody: Sendable {
        let message: QueuedGroupMessage
        let content: String

        init(message: QueuedGroupMessage, content: String) {
            self.message = message
            self.content = content
        }
    }

    /// One inbox entry: a direct message, or a reference to a group body.
    enum InboxEntry: Sendable {
        case direct(InboxMessage)
        case group(GroupMessageBody, recipient: UserID, date: MessageDate)

        var date: MessageDate {
            switch self {
            case .direct(let message): message.date
            case .group(_, _, let date): date
            }
        }

        var message: InboxMessage {
            switch self {
            case .direct(let message):
                return message
            case .group(let body, let recipient, let date):
                return InboxMessage(
                    messageID: body.message.messageID, sender: body.message.sender, recipient: recipient,
                    content: body.content, date: date, sentAt: body.message.sentAt, groupID: body.message.groupID)
            }
        }
    }

    struct QueueEntry {
        var body: GroupMessageBody
        var leaseExpiresAt: ContinuousClock.Instant?
        var deliveryAttempts = 0
    }

    struct BlockKey: Hashable {
        var blocker: UserID
        var blocked: UserID
    }

    struct State {
        var isOpen = true
        var clock = MicrosecondClock()
        var users = Set<UserID>()
        var blocks = Set<BlockKey>()
        /// Members of each group with the order they were added in.
        var groups: [GroupID: [UserID: UInt64]] = [:]
        var memberSequence: UInt64 = 0
        /// Each inbox, ascending by date (append-only).
        var inboxes: [UserID: [InboxEntry]] = [:]
        var groupBodies: [MessageID: GroupMessageBody] = [:]
        /// The fan-out queue, oldest first.
        var queueOrder: [MessageID] = []
        var queue: [MessageID: QueueEntry] = [:]
        /// Members already delivered, per queued message.
        var progress: [MessageID: Set<UserID>] = [:]
    }

    private let state = Mutex(State())

    /// An empty, open store.
    public init() {}

    private func withOpenState<T>(_ body: (inout State) throws -> T) throws -> T {
        try state.withLock { state in
            guard state.isOpen else { throw MessagingError(.unavailable, "The store is closed.") }
            return try body(&state)
        }
    }

    public func createUser(_ user: UserID) async throws {
        try withOpenState { _ = $0.users.insert(user) }
    }

    public func userExists(_ user: UserID) async throws -> Bool {
        try withOpenState { $0.users.contains(user) }
    }

    public func setBlock(blocker: UserID, blocked: UserID, isBlocked: Bool) async throws {
        try withOpenState { state in
            let key = BlockKey(blocker: blocker, blocked: blocked)
            if isBlocked { state.blocks.insert(key) } else { state.blocks.remove(key) }
        }
    }

    public func isBlocked(blocker: UserID, blocked: UserID) async throws -> Bool {
        try withOpenState { $0.blocks.contains(BlockKey(blocker: blocker, blocked: blocked)) }
    }

    public func createGroup(_ group: GroupID) async throws {
        try withOpenState { state in
            if state.groups[group] == nil { state.groups[group] = [:] }
        }
    }

    public func groupExists(_ group: GroupID) async throws -> Bool {
        try withOpenState { $0.groups[group] != nil }
    }

    public func addMember(_ user: UserID, to group: GroupID) async throws {
        try withOpenState { state in
            guard state.groups[group]?[user] == nil else { return }
            state.memberSequence += 1
            state.groups[group, default: [:]][user] = state.memberSequence
        }
    }

    public func removeMember(_ user: UserID, from group: GroupID) async throws {
        try withOpenState { _ = $0.groups[group]?.removeValue(forKey: user) }
    }

    public func members(of group: GroupID) async throws -> [UserID] {
        try withOpenState { state in
            (state.groups[group] ?? [:]).sorted { $0.value < $1.value }.map(\.key)
        }
    }

    public func isMember(_ user: UserID, of group: GroupID) async throws -> Bool {
        try withOpenState { $0.groups[group]?[user] != nil }
    }

    public func deliverDirectMessage(_ message: OutgoingMessage, to recipient: UserID) async throws -> MessageDate {
        try withOpenState { state in
            let date = state.clock.next()
            let entry = InboxMessage(
                messageID: message.messageID, sender: message.sender, recipient: recipient,
                content: message.content, date: date, sentAt: date, groupID: nil)
            state.inboxes[recipient, default: []].append(.direct(entry))
            return date
        }
    }

    public func enqueueGroupMessage(_ message: OutgoingMessage, to group: GroupID) async throws -> MessageDate {
        try withOpenState { state in
            let sentAt = state.clock.next()
            let queued = QueuedGroupMessage(
                messageID: message.messageID, groupID: group, sender: message.sender, sentAt: sentAt)
            let body = GroupMessageBody(message: queued, content: message.content)
            state.groupBodies[message.messageID] = body
            state.queue[message.messageID] = QueueEntry(body: body)
            state.queueOrder.append(message.messageID)
            return sentAt
        }
    }

    public func receiveGroupMessages(limit: Int, lease: Duration) async throws -> [GroupMessageLease] {
        precondition(limit > 0)
        let now = ContinuousClock.now
        return try withOpenState { state in
            var leases: [GroupMessageLease] = []
            for id in state.queueOrder where leases.count < limit {
                guard var entry = state.queue[id] else { continue }
                if let expiry = entry.leaseExpiresAt, expiry > now { continue }
                entry.leaseExpiresAt = now + lease
                entry.deliveryAttempts += 1
                state.queue[id] = entry
                leases.append(GroupMessageLease(message: entry.body.message, deliveryAttempt: entry.deliveryAttempts))
            }
            return leases
        }
    }

    public func deliverGroupMessageCopies(_ message: QueuedGroupMessage, to members: [UserID]) async throws -> Int {
        try withOpenState { state in
            guard let body = state.groupBodies[message.messageID] else {
                throw MessagingError(.notFound, "Group message \(message.messageID) is not stored.")
            }
            // A message no longer queued was fully fanned out and acknowledged.
            guard state.queue[message.messageID] != nil else { return 0 }
            var done = state.progress[message.messageID] ?? []
            var written = 0
            for member in members where !done.contains(member) {
                let date = state.clock.next()
                state.inboxes[member, default: []].append(.group(body, recipient: member, date: date))
                done.insert(member)
                written += 1
            }
            state.progress[message.messageID] = done
            return written
        }
    }

    public func acknowledgeGroupMessage(_ message: QueuedGroupMessage) async throws {
        try withOpenState { state in
            guard state.queue.removeValue(forKey: message.messageID) != nil else { return }
            state.progress.removeValue(forKey: message.messageID)
            if let index = state.queueOrder.firstIndex(of: message.messageID) {
                state.queueOrder.remove(at: index)
            }
        }
    }

    public func readInbox(of recipient: UserID, after: MessageDate?, limit: Int) async throws -> [InboxMessage] {
        precondition(limit > 0)
        return try withOpenState { state in
            guard let inbox = state.inboxes[recipient] else { return [] }
            var low = 0
            if let after {
                // First entry dated strictly after `after` (the inbox is sorted by date).
                var high = inbox.count
                while low < high {
                    let middle = (low + high) / 2
                    if inbox[middle].date <= after { low = middle + 1 } else { high = middle }
                }
            }
            return inbox[low..<min(inbox.count, low + limit)].map(\.message)
        }
    }

    public func close() async throws {
        state.withLock { $0.isOpen = false }
    }
}
