/// What one call of ``MessagingStorage/deliverGroupMessageBatch(_:maxMembers:)`` did.
public struct FanOutBatch: Hashable, Sendable {
    /// The members this batch wrote a copy for, in the order written (empty
    /// when the message was already fully delivered). The worker wakes the
    /// clients waiting on these inboxes (``InboxNotifier``).
    public var recipients: [UserID]
    /// Whether every member is now served: the message can be acknowledged.
    public var isComplete: Bool

    /// Copies written by this batch: one per recipient.
    public var copiesWritten: Int { recipients.count }

    /// Creates a result.
    public init(recipients: [UserID], isComplete: Bool) {
        self.recipients = recipients
        self.isComplete = isComplete
    }
}

/// A fan-out failure that retrying cannot fix (storage throws it; anything
/// else it throws counts as transient and is retried with backoff).
public struct FanOutError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Kind: String, Hashable, Sendable {
        /// The message can never be delivered as stored: a corrupt or
        /// malformed queue record, a stored state that contradicts it (a bug).
        /// The worker moves it to the dead-letter queue.
        case permanent
        /// The lease is no longer held: it ran out and another consumer
        /// received the message. The worker drops it (the holder finishes it).
        case leaseLost
    }

    /// The kind of failure.
    public var kind: Kind
    /// What happened, for the log and the dead letter's reason.
    public var message: String

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}

/// The fan-out queue's counters (``MessagingStorage/fanOutQueueStatistics()``).
public struct FanOutQueueStatistics: Hashable, Sendable {
    /// Accepted group messages not yet fully delivered (queued or in progress).
    public var depth: Int
    /// Of those, the ones leased to a consumer now.
    public var inFlight: Int
    /// Messages parked in the dead-letter queue, waiting for a redrive.
    public var deadLetters: Int
    /// Messages moved to the dead-letter queue since the storage was opened.
    public var deadLetteredTotal: UInt64
    /// Age of the oldest message not fully delivered, in microseconds (0 when none).
    public var oldestAgeMicros: Int64
    /// Deliveries to a consumer of a message delivered before (a lease that
    /// expired, a consumer that failed, a restart) since the storage was opened.
    public var redeliveredTotal: UInt64

    /// Creates statistics.
    public init(depth: Int, inFlight: Int, deadLetters: Int, deadLetteredTotal: UInt64, oldestAgeMicros: Int64 = 0,
                redeliveredTotal: UInt64 = 0) {
        self.depth = depth
        self.inFlight = inFlight
        self.deadLetters = deadLetters
        self.deadLetteredTotal = deadLetteredTotal
        self.oldestAgeMicros = oldestAgeMicros
        self.redeliveredTotal = redeliveredTotal
    }
}
