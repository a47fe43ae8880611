/// What the messaging domain needs from a storage backend.
///
/// The domain (``MessagingService``, ``FanOutWorker``) talks to storage only
/// through this protocol, so that the embedded engine, the in-memory store
/// (``InMemoryMessagingStorage``) and, later, a distributed SQL backend are
/// interchangeable. Validation (existence, blocks, membership, content limits)
/// is the service's job; storage only stores, dates and reads.
///
/// ## Rules every implementation keeps
/// - **Durability.** When a mutating method returns, its effect survives a crash
///   (for a store configured to sync; an in-memory store survives nothing).
/// - **Dates.** Every inbox entry and every accepted group message gets a date
///   from one monotonic microsecond clock of the store: strictly greater than
///   every date the store handed out before, across restarts too (persist the
///   high-water mark). The date of an inbox entry is taken *inside the commit
///   order*, under the same serialization as the write that makes it visible, so
///   that within one inbox entries become readable in date order: once a reader
///   has seen an entry dated D, no entry dated D or earlier can appear in that
///   inbox later.
/// - **Idempotent membership and blocks.** Adding what exists or removing what
///   does not is not an error.
/// - Errors are thrown, never swallowed; a closed store throws
///   ``MessagingError`` with code `.unavailable`.
public protocol MessagingStorage: Sendable {
    // MARK: Users and blocks

    /// Stores a new user. The id is fresh (random); storing it twice is not an error.
    func createUser(_ user: UserID) async throws

    /// Whether the user exists.
    func userExists(_ user: UserID) async throws -> Bool

    /// Records that `blocker` blocks `blocked` (`isBlocked == true`) or lifts it.
    /// Idempotent. Both users exist (the caller checked).
    func setBlock(blocker: UserID, blocked: UserID, isBlocked: Bool) async throws

    /// Whether `blocker` currently blocks `blocked`.
    func isBlocked(blocker: UserID, blocked: UserID) async throws -> Bool

    // MARK: Groups and members

    /// Stores a new, empty group.
    func createGroup(_ group: GroupID) async throws

    /// Whether the group exists.
    func groupExists(_ group: GroupID) async throws -> Bool

    /// Adds `user` to `group`; idempotent. Both exist (the caller checked).
    func addMember(_ user: UserID, to group: GroupID) async throws

    /// Removes `user` from `group`; idempotent.
    func removeMember(_ user: UserID, from group: GroupID) async throws

    /// The current members of `group`, in the order they were added.
    /// - Complexity: O(members).
    func members(of group: GroupID) async throws -> [UserID]

    /// Whether `user` is currently a member of `group`.
    func isMember(_ user: UserID, of group: GroupID) async throws -> Bool

    // MARK: Direct messages

    /// Writes a direct message and `recipient`'s inbox entry for it in **one
    /// atomic write**, dated inside the commit order (see the type's rules), and
    /// returns that date (the message's `date` and `sentAt`). Durable on return.
    func deliverDirectMessage(_ message: OutgoingMessage, to recipient: UserID) async throws -> MessageDate

    // MARK: Group messages and fan-out

    /// Durably stores the group message's body (**once**, whatever the number
    /// of members) and enqueues it for fan-out, in one atomic write; returns its
    /// acceptance date (`sentAt`), taken from the same monotonic clock.
    func enqueueGroupMessage(_ message: OutgoingMessage, to group: GroupID) async throws -> MessageDate

    /// Leases up to `limit` queued group messages that are not leased (or whose
    /// lease has expired), oldest first, for `lease`. A message leased here is
    /// not returned again until its lease expires or it is acknowledged.
    /// Returns an empty array when nothing is ready.
    func receiveGroupMessages(limit: Int, lease: Duration) async throws -> [GroupMessageLease]

    /// Delivers copies of a queued group message to `members` (at most a batch,
    /// e.g. 100): for every member not yet marked done for this message, writes
    /// an inbox entry referencing the stored body, dated inside the commit order,
    /// and marks the member done in the message's progress marker — entries and
    /// marker in **one atomic write**. Members already done are skipped, so a
    /// redelivery after a crash never writes a second copy. Returns how many
    /// copies were written.
    func deliverGroupMessageCopies(_ message: QueuedGroupMessage, to members: [UserID]) async throws -> Int

    /// Removes a fully fanned-out message from the queue (and its progress
    /// marker). Acknowledging a message that is no longer queued is not an error.
    func acknowledgeGroupMessage(_ message: QueuedGroupMessage) async throws

    // MARK: Inboxes

    /// Up to `limit` entries of `recipient`'s inbox dated strictly after `after`
    /// (from the start when nil), ascending by date. Only entries whose write is
    /// complete are returned, and in a prefix-consistent way (see the type's rules).
    /// - Complexity: O(log n + limit) for an ordered index.
    func readInbox(of recipient: UserID, after: MessageDate?, limit: Int) async throws -> [InboxMessage]

    // MARK: Lifecycle

    /// Flushes and closes the store. Later calls throw `.unavailable`.
    func close() async throws

    /// Why the storage cannot serve every request now (for example: it is
    /// read-only after a failed log write), or nil when healthy.
    func healthProblem() async -> String?
}

extension MessagingStorage {
    /// Healthy unless a backend says otherwise.
    public func healthProblem() async -> String? { nil }
}
