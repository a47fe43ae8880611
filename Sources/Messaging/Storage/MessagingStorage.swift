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
///   from a monotonic microsecond clock of the store: strictly greater than
///   every date handed out before in the same inbox (for a group message's
///   acceptance date: in the same group), across restarts too (persist the
///   high-water mark). A single-process store keeps one clock for everything,
///   so its dates are unique store-wide; a store shared by several processes
///   may keep one clock per inbox and one per group (dates of two inboxes may
///   then be equal: nothing compares them). The date of an inbox entry is taken
///   *inside the commit order*, under the same serialization as the write that
///   makes it visible, so that within one inbox entries become readable in date
///   order: once a reader has seen an entry dated D, no entry dated D or earlier
///   can appear in that inbox later.
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

    /// Up to `limit` current members of `group` whose ids sort strictly after
    /// `after` (from the first when nil), ascending by id (the byte order of
    /// the UUIDs, which is also the order of their uppercase text).
    /// - Complexity: O(log n + limit) for an ordered table.
    func members(of group: GroupID, after: UserID?, limit: Int) async throws -> [UserID]

    /// Whether `user` is currently a member of `group`.
    func isMember(_ user: UserID, of group: GroupID) async throws -> Bool

    // MARK: Direct messages

    /// Writes a direct message and `recipient`'s inbox entry for it in **one
    /// atomic write**, dated inside the commit order (see the type's rules), and
    /// returns that date (the message's `date` and `sentAt`). Durable on return.
    func deliverDirectMessage(_ message: OutgoingMessage, to recipient: UserID) async throws -> MessageDate

    // MARK: Group messages and fan-out

    /// Accepts a group message in **one atomic durable step** (for the engine:
    /// one `fdatasync`): the message — sender, group, content and its
    /// acceptance date — is queued for fan-out, and nothing else is written.
    /// Returns the acceptance date (`sentAt`), taken from the store's monotonic
    /// clock: unique, greater than every date handed out before (in the group,
    /// at least: see the type's rules). Every copy written later is dated after it.
    func enqueueGroupMessage(_ message: OutgoingMessage, to group: GroupID) async throws -> MessageDate

    /// Leases one queued group message that is not leased (or whose lease ran
    /// out), oldest first, for `lease`. When none is ready, waits up to `wait`
    /// for one (a long poll: woken by an enqueue, a redrive or a lease running
    /// out, not by polling) and returns nil if none came. Cancellation ends the
    /// wait (throwing `CancellationError`) without leasing anything.
    /// A queued record that cannot be decoded is moved to the dead-letter
    /// queue here (logged as an error), never handed out.
    func receiveGroupMessage(lease: Duration, wait: Duration) async throws -> GroupMessageLease?

    /// Extends a lease the caller holds to `duration` from now and returns
    /// the renewed lease (use it from now on). The delivery count is unchanged.
    /// - Throws: ``FanOutError`` `.leaseLost` if another consumer got the message.
    func extendGroupMessageLease(_ lease: GroupMessageLease, by duration: Duration) async throws -> GroupMessageLease

    /// Writes the next batch of a leased message's fan-out: the next (up to)
    /// `maxMembers` members of the group **after the message's cursor**, in the
    /// order of user ids (bytes of the UUID), read now; for each an inbox entry
    /// referencing the message's body, dated inside the commit order; the new
    /// cursor (the last member written) — all in **one atomic write**. The
    /// first batch also stores the body (once); the last one deletes the
    /// cursor. So a redelivery after a crash resumes after the cursor and
    /// never writes a second copy, and the state kept per batch is constant
    /// in size. A message already fully delivered writes nothing and reports
    /// complete. Calls for one message are serialized.
    /// - Throws: ``FanOutError`` `.permanent` if the message can never be
    ///   delivered (its record or stored state is corrupt); anything else is
    ///   transient (retry later).
    func deliverGroupMessageBatch(_ lease: GroupMessageLease, maxMembers: Int) async throws -> FanOutBatch

    /// Removes a fully delivered message from the queue. Acknowledging a
    /// message no longer queued, or whose lease another consumer took over,
    /// is not an error.
    func acknowledgeGroupMessage(_ lease: GroupMessageLease) async throws

    /// Parks a message that can never be delivered in the dead-letter queue
    /// with `reason`, where it waits for ``redriveGroupMessages()``.
    func deadLetterGroupMessage(_ lease: GroupMessageLease, reason: String) async throws

    /// Moves every dead-lettered group message back into the fan-out queue
    /// (attempts reset) and returns how many moved; an idle worker receives
    /// them at once. A crash during a redrive can duplicate a queued message,
    /// never lose one (delivery stays exactly once per member: the cursor).
    func redriveGroupMessages() async throws -> Int

    /// The fan-out queue's depth, in-flight and dead-letter counts.
    func fanOutQueueStatistics() async throws -> FanOutQueueStatistics

    /// The storage's own figures for monitoring (`GET /metrics`): counters
    /// and gauges of its engine. Empty by default.
    func metricsSnapshot() async -> [StorageMetric]

    // MARK: Inboxes

    /// Up to `limit` entries of `recipient`'s inbox dated strictly after `after`
    /// (from the start when nil; any date, before 1970 or up to `Int64.max`, is
    /// valid), ascending by date. Only entries whose write is complete are
    /// returned, and in a prefix-consistent way (see the type's rules).
    ///
    /// The read also stops early, after the first entry at which the running
    /// total of content bytes (UTF-8) passes `maxContentBytes`: that entry is
    /// the last one returned. Callers that need fewer bytes than `limit` entries
    /// could hold (a response byte budget) bound the memory of one read with it.
    /// - Complexity: O(log n + limit) for an ordered index.
    func readInbox(of recipient: UserID, after: MessageDate?, limit: Int, maxContentBytes: Int) async throws -> [InboxMessage]

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

    /// Up to `limit` entries of `recipient`'s inbox dated strictly after `after`,
    /// with no byte bound (see ``readInbox(of:after:limit:maxContentBytes:)``).
    public func readInbox(of recipient: UserID, after: MessageDate?, limit: Int) async throws -> [InboxMessage] {
        try await readInbox(of: recipient, after: after, limit: limit, maxContentBytes: .max)
    }
}

extension MessagingStorage {
    /// No figures of its own.
    public func metricsSnapshot() async -> [StorageMetric] { [] }
}

/// One figure of a storage for monitoring, as Prometheus shows it.
public struct StorageMetric: Sendable, Equatable {
    /// A counter only grows (a total since the storage opened); a gauge is a level.
    public enum Kind: Sendable, Equatable {
        /// A total since open.
        case counter
        /// A current level.
        case gauge
    }

    /// The metric name, `msgstore_…` (`_total` for counters).
    public var name: String
    /// One sentence on what it counts.
    public var help: String
    /// Counter or gauge.
    public var kind: Kind
    /// Labels distinguishing series of the same name (e.g. `level`).
    public var labels: [String: String]
    /// The value.
    public var value: Double

    /// Creates a figure.
    public init(name: String, help: String, kind: Kind, labels: [String: String] = [:], value: Double) {
        self.name = name
        self.help = help
        self.kind = kind
        self.labels = labels
        self.value = value
    }
}
