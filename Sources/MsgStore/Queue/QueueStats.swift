/// A point-in-time summary of a ``DurableQueue``.
public struct QueueStats: Sendable, Equatable {
    /// Unacked messages, visible or in flight.
    public var depth: Int
    /// Messages leased to a receiver and not yet acked.
    public var inFlight: Int
    /// Age of the oldest unacked message, in microseconds (0 when empty).
    public var oldestUnackedAgeMicros: Int64
    /// Messages in the dead-letter queue (0 without one).
    public var deadLetters: Int
    /// Messages enqueued since the queue was opened.
    public var enqueuedTotal: UInt64
    /// Messages acked since the queue was opened.
    public var ackedTotal: UInt64
    /// Segment files on disk.
    public var segments: Int
    /// The next sequence number to be assigned.
    public var nextSequence: UInt64
    /// `fdatasync`s of enqueued records and of ack deltas since the queue was
    /// opened (0 with ``SyncMode/none``): one per group commit.
    public var syncs: UInt64 = 0
    /// Messages moved to the dead-letter queue since the queue was opened
    /// (retry limit reached, or ``DurableQueue/deadLetter(_:reason:)``).
    public var deadLetteredTotal: UInt64 = 0
    /// Jobs (enqueues without `fdatasync`, unsynced acks, payload reads)
    /// processed in place on the caller's thread because the queue's thread
    /// was idle, since the queue was opened.
    public var inPlaceJobs: UInt64 = 0
    /// Deliveries of a message that had been delivered before (its lease
    /// expired, it was nacked, or the process restarted) since the queue was opened.
    public var redeliveredTotal: UInt64 = 0
}
