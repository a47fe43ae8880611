/// A queued group message handed to one fan-out consumer until `expiresAt`.
/// If it is not acknowledged by then, it becomes receivable again.
public struct GroupMessageLease: Hashable, Sendable {
    /// The queued message.
    public var message: QueuedGroupMessage
    /// How many times it has been received, this time included (1 = first).
    public var deliveryAttempt: Int

    /// Creates a lease.
    public init(message: QueuedGroupMessage, deliveryAttempt: Int) {
        self.message = message
        self.deliveryAttempt = deliveryAttempt
    }
}
