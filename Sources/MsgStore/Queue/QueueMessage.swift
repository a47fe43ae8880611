/// A message handed out by ``DurableQueue/receive(max:visibilityTimeout:waitTimeout:)``,
/// leased to the receiver until it is acked, nacked or its visibility timeout passes.
public struct QueueMessage: Sendable, Equatable {
    /// The message's sequence number in its queue (1, 2, 3, … in enqueue order).
    public internal(set) var sequence: UInt64
    /// When the message was first enqueued, in microseconds since the Unix epoch.
    public var enqueuedAtMicros: Int64
    /// Which delivery this is: 1 for the first, 2 after one lease timeout, nack or restart, …
    /// (In a dead-letter queue the count continues from the deliveries in the original queue.)
    public var attempt: Int
    /// Set when the message sits in a dead-letter queue: where it came from and why.
    public var deadLetter: DeadLetterInfo?
    /// The bytes given to ``DurableQueue/enqueue(_:)``.
    public var payload: [UInt8]
    /// Identifies this lease: a stale lease (timed out and delivered again) can neither ack nor nack the newer one.
    public internal(set) var leaseID: UInt64

    /// Creates a message; only the queue does this (a lease cannot be forged).
    init(sequence: UInt64, enqueuedAtMicros: Int64, attempt: Int, deadLetter: DeadLetterInfo?, payload: [UInt8], leaseID: UInt64) {
        self.sequence = sequence
        self.enqueuedAtMicros = enqueuedAtMicros
        self.attempt = attempt
        self.deadLetter = deadLetter
        self.payload = payload
        self.leaseID = leaseID
    }
}

extension StoreError.Code {
    /// A queue message's lease is no longer held by the caller: its visibility
    /// timeout passed and it was delivered again, it was nacked, or it is on
    /// its way to the dead-letter queue. The queue was left unchanged.
    public static let leaseNotHeld = StoreError.Code("leaseNotHeld")
}
