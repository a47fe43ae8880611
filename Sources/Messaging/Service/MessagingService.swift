import Foundation

/// The messaging domain: users, blocks, groups, members, messages and inboxes.
///
/// Validates every request (existence, blocks, membership, content and page
/// limits), throws ``MessagingError`` for anything a client did wrong, and
/// stores through a ``MessagingStorage``. Group messages are only enqueued here;
/// a ``FanOutWorker`` delivers them.
///
/// Clients can wait for new messages instead of polling:
/// ``inbox(of:after:limit:waitingUpTo:)`` (a long poll) and
/// ``followInbox(_:after:idleInterval:onMessages:onIdle:)`` (a stream). Both
/// read the inbox exactly as a polling client does; the ``notifier`` only
/// wakes them: this service after each direct message, the ``FanOutWorker``
/// after each batch of group copies.
public struct MessagingService: Sendable {
    /// The storage backend.
    public let storage: any MessagingStorage
    /// The enforced bounds.
    public let limits: MessagingLimits
    /// Wakes the clients waiting on an inbox when something is delivered to it.
    public let notifier: InboxNotifier

    /// Creates a service. A ``FanOutWorker`` on the same storage delivers the
    /// group messages it accepts (its long poll wakes on each enqueue); give
    /// it the same `notifier`, so that waiting clients wake for group copies too.
    public init(storage: any MessagingStorage, limits: MessagingLimits = MessagingLimits(), notifier: InboxNotifier = InboxNotifier()) {
        self.storage = storage
        self.limits = limits
        self.notifier = notifier
    }

    // MARK: Users

    /// Creates a user and returns its id.
    public func createUser() async throws -> UserID {
        let user = UserID.random()
        try await storage.createUser(user)
        return user
    }

    /// Makes `blocker` block (`isBlocked`) or unblock `blocked`. Idempotent.
    /// - Throws: `.badRequest` if they are the same user, `.notFound` if either does not exist.
    public func setBlock(blocker: UserID, blocked: UserID, isBlocked: Bool) async throws {
        guard blocker != blocked else {
            throw MessagingError(.badRequest, "A user cannot block or unblock themselves.")
        }
        try await requireUser(blocker, role: "Blocker")
        try await requireUser(blocked, role: "Blocked user")
        try await storage.setBlock(blocker: blocker, blocked: blocked, isBlocked: isBlocked)
    }

    // MARK: Groups

    /// Creates an empty group and returns its id.
    public func createGroup() async throws -> GroupID {
        let group = GroupID.random()
        try await storage.createGroup(group)
        return group
    }

    /// Adds `user` to `group`; idempotent. - Throws: `.notFound` if either does not exist.
    public func addMember(_ user: UserID, to group: GroupID) async throws {
        try await requireGroup(group)
        try await requireUser(user, role: "User")
        try await storage.addMember(user, to: group)
    }

    /// Removes `user` from `group`; idempotent. - Throws: `.notFound` if either does not exist.
    public func removeMember(_ user: UserID, from group: GroupID) async throws {
        try await requireGroup(group)
        try await requireUser(user, role: "User")
        try await storage.removeMember(user, from: group)
    }

    /// One page of `group`'s members: ids after `after` (from the first when
    /// nil), ascending, at most `limit` (default ``MessagingLimits/memberPageSizeDefault``).
    /// `nextPageToken` is set only when more members follow.
    /// - Throws: `.badRequest` (limit out of range), `.notFound` (group).
    public func members(of group: GroupID, after: UserID? = nil, limit: Int? = nil) async throws -> MembersPage {
        let pageSize = limit ?? limits.memberPageSizeDefault
        guard (1...limits.maxPageSize).contains(pageSize) else {
            throw MessagingError(.badRequest, "limit must be between 1 and \(limits.maxPageSize).")
        }
        try await requireGroup(group)
        var members = try await storage.members(of: group, after: after, limit: pageSize + 1)
        var nextPageToken: UserID?
        if members.count > pageSize {
            members.removeLast(members.count - pageSize)
            nextPageToken = members.last
        }
        return MembersPage(members: members, nextPageToken: nextPageToken)
    }

    // MARK: Messages

    /// Sends a direct message; returns once it is durable (and then wakes the
    /// clients waiting on the recipient's inbox).
    /// - Throws: `.badRequest` (empty content), `.payloadTooLarge`, `.notFound`
    ///   (sender or recipient), `.forbidden` (the recipient blocks the sender;
    ///   nothing is stored).
    public func sendDirectMessage(from sender: UserID, to recipient: UserID, content: String) async throws -> SentMessage {
        try validate(content: content)
        try await requireUser(sender, role: "Sender")
        try await requireUser(recipient, role: "Recipient")
        if try await storage.isBlocked(blocker: recipient, blocked: sender) {
            throw MessagingError(.forbidden, "The recipient has blocked the sender.")
        }
        let message = OutgoingMessage(messageID: .random(), sender: sender, content: content)
        let date = try await storage.deliverDirectMessage(message, to: recipient)
        notifier.notify(recipient)
        return SentMessage(messageID: message.messageID, date: date)
    }

    /// Queues a group message durably for fan-out; returns its acceptance date.
    /// Blocks are not checked for group messages.
    /// - Throws: `.badRequest`, `.payloadTooLarge`, `.notFound` (group or
    ///   sender), `.forbidden` (the sender is not a member).
    public func sendGroupMessage(from sender: UserID, to group: GroupID, content: String) async throws -> SentMessage {
        try validate(content: content)
        try await requireGroup(group)
        try await requireUser(sender, role: "Sender")
        guard try await storage.isMember(sender, of: group) else {
            throw MessagingError(.forbidden, "The sender is not a member of the group.")
        }
        let message = OutgoingMessage(messageID: .random(), sender: sender, content: content)
        let sentAt = try await storage.enqueueGroupMessage(message, to: group)
        return SentMessage(messageID: message.messageID, date: sentAt)
    }

    /// One page of `recipient`'s inbox: messages dated strictly after `after`,
    /// ascending, at most `limit` (default ``MessagingLimits/pageSizeDefault``),
    /// and no more than fit in ``MessagingLimits/maxPageBytes`` of JSON
    /// (``InboxPageSize``; the first message always does). `nextPageToken` is
    /// set when more messages exist after the page.
    /// - Throws: `.badRequest` (limit out of range), `.notFound` (recipient).
    public func inbox(of recipient: UserID, after: MessageDate?, limit: Int?) async throws -> InboxPage {
        let pageSize = try pageSize(limit)
        try await requireUser(recipient, role: "Recipient")
        return try await readPage(of: recipient, after: after, pageSize: pageSize)
    }

    private func pageSize(_ limit: Int?) throws -> Int {
        let pageSize = limit ?? limits.pageSizeDefault
        guard (1...limits.maxPageSize).contains(pageSize) else {
            throw MessagingError(.badRequest, "limit must be between 1 and \(limits.maxPageSize).")
        }
        return pageSize
    }

    /// ``inbox(of:after:limit:)`` without the checks.
    private func readPage(of recipient: UserID, after: MessageDate?, pageSize: Int) async throws -> InboxPage {
        // One extra entry tells whether another page exists. The storage stops reading
        // once the contents alone pass the byte budget: no later message could fit.
        let budget = limits.maxPageBytes
        var messages = try await storage.readInbox(of: recipient, after: after, limit: pageSize + 1, maxContentBytes: budget)
        let readAll = messages.count <= pageSize && messages.reduce(0, { $0 + $1.content.utf8.count }) <= budget
        var pageBytes = InboxPageSize.pageOverhead
        var kept = 0
        for message in messages.prefix(pageSize) {
            let bytes = InboxPageSize.bytes(of: message) + (kept > 0 ? 1 : 0)
            if kept > 0 && pageBytes + bytes > budget { break }
            pageBytes += bytes
            kept += 1
        }
        var nextPageToken: MessageDate?
        if kept < messages.count || !readAll {
            messages.removeLast(messages.count - kept)
            nextPageToken = messages.last?.date
        }
        return InboxPage(messages: messages, nextPageToken: nextPageToken)
    }

    // MARK: Waiting for messages

    /// A long poll: the page ``inbox(of:after:limit:)`` returns, at once when
    /// it holds a message; otherwise waits up to `wait` for a delivery to
    /// `recipient`'s inbox (a direct message, a group copy) and returns the
    /// page as soon as one is readable, or an empty page when `wait` runs out
    /// or the ``notifier`` shuts down. No polling: the wait is suspended
    /// until the ``notifier`` wakes it.
    /// - Throws: as ``inbox(of:after:limit:)``, and ``InboxWaiterLimitError``
    ///   when it would have to wait but ``InboxNotifier/maxWaiters`` clients
    ///   wait already.
    public func inbox(of recipient: UserID, after: MessageDate?, limit: Int?, waitingUpTo wait: Duration) async throws -> InboxPage {
        let pageSize = try pageSize(limit)
        try await requireUser(recipient, role: "Recipient")
        let first = try await readPage(of: recipient, after: after, pageSize: pageSize)
        guard first.messages.isEmpty, wait > .zero else { return first }
        let deadline = ContinuousClock.now.advanced(by: wait)
        // Subscribed before the next read: a delivery after it either shows in
        // that read or wakes the wait.
        let subscription = try notifier.subscribe(to: recipient)
        defer { subscription.cancel() }
        while true {
            let page = try await readPage(of: recipient, after: after, pageSize: pageSize)
            if !page.messages.isEmpty { return page }
            guard await subscription.wait(until: deadline) == .notified else { return page }
        }
    }

    /// Checks that `recipient` exists and subscribes to its inbox, for
    /// ``followInbox(_:after:idleInterval:onMessages:onIdle:)``.
    /// - Throws: `.notFound` (recipient), ``InboxWaiterLimitError``.
    public func subscribeToInbox(of recipient: UserID) async throws -> InboxSubscription {
        try await requireUser(recipient, role: "Recipient")
        return try notifier.subscribe(to: recipient)
    }

    /// Follows an inbox as a stream: hands every message dated after `start`
    /// to `onMessages`, page by page in date order, then each new one as it
    /// is delivered, until the task is cancelled, the subscription is
    /// cancelled or the ``notifier`` shuts down (returning why). Calls
    /// `onIdle` after each `idleInterval` with nothing new (a keepalive).
    ///
    /// The messages are read exactly as polling reads them (pages after the
    /// last date handed over; the notifier only wakes the loop), so nothing
    /// is missed or repeated: resuming later from the last date handed over
    /// continues exactly where this left off. The subscription must come
    /// from ``subscribeToInbox(of:)`` (or the ``notifier``) **before** the
    /// first read, that is, before this is called.
    /// - Throws: what the storage or the callbacks throw.
    @discardableResult
    public func followInbox(
        _ subscription: InboxSubscription, after start: MessageDate?, idleInterval: Duration,
        onMessages: ([InboxMessage]) async throws -> Void, onIdle: () async throws -> Void
    ) async throws -> InboxWakeReason {
        var cursor = start
        while true {
            if Task.isCancelled { return .cancelled }
            if notifier.isShutDown { return .shutDown }
            let page = try await readPage(of: subscription.recipient, after: cursor, pageSize: limits.maxPageSize)
            if let last = page.messages.last {
                try await onMessages(page.messages)
                cursor = last.date
                if page.nextPageToken != nil { continue }
            }
            switch await subscription.wait(until: ContinuousClock.now.advanced(by: idleInterval)) {
            case .notified: continue
            case .timedOut: try await onIdle()
            case let reason: return reason
            }
        }
    }

    // MARK: Operations

    /// Moves every dead-lettered group message back into the fan-out queue;
    /// returns how many moved (`POST /admin/queues/fanout/redrive`).
    public func redriveGroupMessages() async throws -> Int {
        try await storage.redriveGroupMessages()
    }

    /// The fan-out queue's counters (`GET /admin/queues/fanout`).
    public func fanOutQueueStatistics() async throws -> FanOutQueueStatistics {
        try await storage.fanOutQueueStatistics()
    }

    /// Throws `.unavailable` unless the storage is open, answers a read and
    /// accepts writes (a read-only store is unhealthy: sends would fail).
    public func checkHealth() async throws {
        _ = try await storage.userExists(UserID(UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))))
        if let problem = await storage.healthProblem() {
            throw MessagingError(.unavailable, problem)
        }
    }

    // MARK: Checks

    private func validate(content: String) throws {
        guard !content.isEmpty else {
            throw MessagingError(.badRequest, "content must not be empty.")
        }
        let bytes = content.utf8.count
        guard bytes <= limits.maxContentBytes else {
            throw MessagingError(
                .payloadTooLarge, "content is \(bytes) bytes; the limit is \(limits.maxContentBytes) bytes.")
        }
    }

    private func requireUser(_ user: UserID, role: String) async throws {
        guard try await storage.userExists(user) else {
            throw MessagingError(.notFound, "\(role) \(user) does not exist.")
        }
    }

    private func requireGroup(_ group: GroupID) async throws {
        guard try await storage.groupExists(group) else {
            throw MessagingError(.notFound, "Group \(group) does not exist.")
        }
    }
}
