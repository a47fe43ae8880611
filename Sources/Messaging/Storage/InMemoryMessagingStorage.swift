import Synchronization

/// A ``MessagingStorage`` in memory: correct semantics, no durability.
///
/// Every operation runs under one lock, so each is atomic, and dates are taken
/// from the clock under the same lock as the insert: an inbox is only ever
/// appended to, in date order. The fan-out follows the engine's design: the
/// queued entry carries the whole message; the first batch stores the body
/// once (``GroupMessageBody``, shared by reference by every member's entry),
/// each batch advances a cursor (the last member id served), the last batch
/// drops it; a dead-letter list and a long poll stand in for the durable
/// queue's. Used by tests and by `msgstore serve --storage memory`.
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
        /// 0 when not leased; otherwise the current lease.
        var leaseToken: UInt64 = 0
        var leaseExpiresAt: ContinuousClock.Instant?
        var deliveryAttempts = 0
    }

    /// The lease receipt of this storage.
    struct Receipt: Sendable {
        var sequence: UInt64
        var token: UInt64
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
        /// The fan-out queue by sequence (ascending = oldest first).
        var queue: [UInt64: QueueEntry] = [:]
        var nextSequence: UInt64 = 1
        var nextLeaseToken: UInt64 = 1
        /// Parked messages (oldest first) and the count ever parked.
        var deadLetters: [(body: GroupMessageBody, reason: String)] = []
        var deadLetteredTotal: UInt64 = 0
        /// The last member served, per message being fanned out.
        var cursors: [MessageID: UserID] = [:]
        /// Receivers waiting in a long poll, and a counter bumped whenever a message may have become receivable.
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiterID: UInt64 = 1
        var generation: UInt64 = 0

        mutating func takeWaiters() -> [CheckedContinuation<Void, Never>] {
            generation &+= 1
            defer { waiters.removeAll() }
            return Array(waiters.values)
        }
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

    public func members(of group: GroupID, after: UserID?, limit: Int) async throws -> [UserID] {
        precondition(limit > 0)
        return try withOpenState { state in
            let members = (state.groups[group] ?? [:]).keys.filter { member in after.map { $0 < member } ?? true }.sorted()
            return Array(members.prefix(limit))
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
        let (sentAt, waiters) = try withOpenState { state in
            let sentAt = state.clock.next()
            let queued = QueuedGroupMessage(
                messageID: message.messageID, groupID: group, sender: message.sender, sentAt: sentAt)
            state.queue[state.nextSequence] = QueueEntry(body: GroupMessageBody(message: queued, content: message.content))
            state.nextSequence += 1
            return (sentAt, state.takeWaiters())
        }
        for waiter in waiters { waiter.resume() }
        return sentAt
    }

    public func receiveGroupMessage(lease: Duration, wait: Duration) async throws -> GroupMessageLease? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: wait)
        while true {
            try Task.checkCancellation()
            let now = clock.now
            let (leased, generation, nextExpiry) = try withOpenState { state -> (GroupMessageLease?, UInt64, ContinuousClock.Instant?) in
                var nextExpiry: ContinuousClock.Instant?
                for sequence in state.queue.keys.sorted() {
                    var entry = state.queue[sequence]!
                    if entry.leaseToken != 0, let expiry = entry.leaseExpiresAt, expiry > now {
                        nextExpiry = min(nextExpiry ?? expiry, expiry)
                        continue
                    }
                    entry.leaseToken = state.nextLeaseToken
                    state.nextLeaseToken += 1
                    entry.leaseExpiresAt = now.advanced(by: lease)
                    entry.deliveryAttempts += 1
                    state.queue[sequence] = entry
                    return (GroupMessageLease(message: entry.body.message, deliveryAttempt: entry.deliveryAttempts,
                                              receipt: LeaseReceipt(Receipt(sequence: sequence, token: entry.leaseToken))),
                            state.generation, nil)
                }
                return (nil, state.generation, nextExpiry)
            }
            if let leased { return leased }
            if now >= deadline { return nil }
            await waitForChange(from: generation, until: min(deadline, nextExpiry ?? deadline))
        }
    }

    /// Suspends until a message may have become receivable, `deadline`, or cancellation.
    private func waitForChange(from generation: UInt64, until deadline: ContinuousClock.Instant) async {
        let id = state.withLock { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        var timer: Task<Void, Never>?
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let registered = state.withLock { state -> Bool in
                    guard state.generation == generation, state.isOpen, !Task.isCancelled else { return false }
                    state.waiters[id] = continuation
                    return true
                }
                guard registered else {
                    continuation.resume()
                    return
                }
                timer = Task { [weak self] in
                    try? await Task.sleep(until: deadline, clock: .continuous)
                    self?.wake(id)
                }
            }
        } onCancel: {
            wake(id)
        }
        timer?.cancel()
    }

    private func wake(_ id: UInt64) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
    }

    /// The queue entry a lease still holds (throws `.leaseLost` if it was taken over).
    private func heldEntry(_ lease: GroupMessageLease, in state: State) throws -> (UInt64, QueueEntry)? {
        guard let receipt = lease.receipt.value as? Receipt else {
            throw FanOutError(.permanent, "The lease of \(lease.message.messageID) is not one of this storage.")
        }
        guard let entry = state.queue[receipt.sequence] else { return nil }
        guard entry.leaseToken == receipt.token else {
            throw FanOutError(.leaseLost, "Group message \(lease.message.messageID) was received again by another consumer.")
        }
        return (receipt.sequence, entry)
    }

    public func extendGroupMessageLease(_ lease: GroupMessageLease, by duration: Duration) async throws -> GroupMessageLease {
        try withOpenState { state in
            guard let (sequence, held) = try heldEntry(lease, in: state) else {
                throw FanOutError(.leaseLost, "Group message \(lease.message.messageID) is no longer queued.")
            }
            // Like the durable queue: a lease past its deadline is still held until another receive takes it.
            var entry = held
            entry.leaseExpiresAt = ContinuousClock.now.advanced(by: duration)
            state.queue[sequence] = entry
            return lease
        }
    }

    public func deliverGroupMessageBatch(_ lease: GroupMessageLease, maxMembers: Int) async throws -> FanOutBatch {
        precondition(maxMembers > 0)
        return try withOpenState { state in
            let message = lease.message
            let id = message.messageID
            guard let queued = state.queue.values.first(where: { $0.body.message.messageID == id }) else {
                // Acknowledged: fully delivered.
                return FanOutBatch(recipients: [], isComplete: true)
            }
            let cursor = state.cursors[id]
            if cursor == nil && state.groupBodies[id] != nil {
                return FanOutBatch(recipients: [], isComplete: true)  // the last batch dropped the cursor
            }
            let members = (state.groups[message.groupID] ?? [:]).keys.filter { cursor == nil || $0 > cursor! }.sorted()
            let page = members.prefix(maxMembers)
            let isLast = members.count <= maxMembers
            if cursor == nil && page.isEmpty { return FanOutBatch(recipients: [], isComplete: true) }
            let body = state.groupBodies[id] ?? queued.body
            state.groupBodies[id] = body
            for member in page {
                let date = state.clock.next()
                state.inboxes[member, default: []].append(.group(body, recipient: member, date: date))
            }
            if isLast { state.cursors[id] = nil } else { state.cursors[id] = page.last }
            return FanOutBatch(recipients: Array(page), isComplete: isLast)
        }
    }

    public func acknowledgeGroupMessage(_ lease: GroupMessageLease) async throws {
        try withOpenState { state in
            do {
                guard let (sequence, _) = try heldEntry(lease, in: state) else { return }
                state.queue.removeValue(forKey: sequence)
            } catch let error as FanOutError where error.kind == .leaseLost {
                return  // the new holder finds the message delivered and acknowledges it
            }
        }
    }

    public func deadLetterGroupMessage(_ lease: GroupMessageLease, reason: String) async throws {
        try withOpenState { state in
            guard let (sequence, entry) = try heldEntry(lease, in: state) else { return }
            state.queue.removeValue(forKey: sequence)
            state.deadLetters.append((entry.body, reason))
            state.deadLetteredTotal += 1
        }
    }

    public func redriveGroupMessages() async throws -> Int {
        let (moved, waiters) = try withOpenState { state in
            let letters = state.deadLetters
            state.deadLetters.removeAll()
            for letter in letters {
                state.queue[state.nextSequence] = QueueEntry(body: letter.body)
                state.nextSequence += 1
            }
            return (letters.count, letters.isEmpty ? [] : state.takeWaiters())
        }
        for waiter in waiters { waiter.resume() }
        return moved
    }

    public func fanOutQueueStatistics() async throws -> FanOutQueueStatistics {
        try withOpenState { state in
            let now = ContinuousClock.now
            let inFlight = state.queue.values.filter { $0.leaseToken != 0 && ($0.leaseExpiresAt ?? now) > now }.count
            return FanOutQueueStatistics(depth: state.queue.count, inFlight: inFlight, deadLetters: state.deadLetters.count,
                                         deadLetteredTotal: state.deadLetteredTotal)
        }
    }

    public func readInbox(of recipient: UserID, after: MessageDate?, limit: Int, maxContentBytes: Int) async throws -> [InboxMessage] {
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
            var messages: [InboxMessage] = []
            var contentBytes = 0
            for entry in inbox[low..<min(inbox.count, low + limit)] {
                let message = entry.message
                messages.append(message)
                contentBytes += message.content.utf8.count
                if contentBytes > maxContentBytes { break }
            }
            return messages
        }
    }

    public func close() async throws {
        let waiters = state.withLock { state in
            state.isOpen = false
            return state.takeWaiters()
        }
        for waiter in waiters { waiter.resume() }
    }
}
