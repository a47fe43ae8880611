/// A queued group message handed to one fan-out consumer for a while (its
/// lease). Not acknowledged in time, it becomes receivable again; the holder
/// keeps it by extending the lease while it makes progress
/// (``MessagingStorage/extendGroupMessageLease(_:by:)``).
public struct GroupMessageLease: Sendable {
    /// The queued message.
    public var message: QueuedGroupMessage
    /// How many times it has been received, this time included (1 = first).
    /// Restarts and expired leases count; nothing is dropped for a high count.
    public var deliveryAttempt: Int
    /// The storage's proof of the lease, passed back on every fan-out call.
    /// Opaque to the domain.
    public var receipt: LeaseReceipt

    /// Creates a lease.
    public init(message: QueuedGroupMessage, deliveryAttempt: Int, receipt: LeaseReceipt) {
        self.message = message
        self.deliveryAttempt = deliveryAttempt
        self.receipt = receipt
    }
}

/// What a storage backend needs to recognise its own lease (for the engine:
/// the durable queue's leased record). The domain only carries it around.
public struct LeaseReceipt: Sendable {
    /// The backend's value.
    public let value: any Sendable

    /// Wraps a backend's value.
    public init(_ value: any Sendable) {
        self.value = value
    }
}
