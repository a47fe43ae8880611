/// One message as it sits in an inbox: a direct message, or one member's copy
/// of a group message.
public struct InboxMessage: Hashable, Sendable {
    /// The message id; every copy of a group message has the same one.
    public var messageID: MessageID
    /// Who sent it.
    public var sender: UserID
    /// The inbox owner.
    public var recipient: UserID
    /// The text.
    public var content: String
    /// When it entered this inbox: the inbox order and cursor, unique within the store.
    public var date: MessageDate
    /// When the server accepted it. Equal to `date` for a direct message.
    public var sentAt: MessageDate
    /// The group, for a group message; nil for a direct message.
    public var groupID: GroupID?

    /// Creates an inbox message.
    public init(
        messageID: MessageID, sender: UserID, recipient: UserID, content: String,
        date: MessageDate, sentAt: MessageDate, groupID: GroupID?
    ) {
        self.messageID = messageID
        self.sender = sender
        self.recipient = recipient
        self.content = content
        self.date = date
        self.sentAt = sentAt
        self.groupID = groupID
    }
}

/// A message on its way into storage, before it has a date.
public struct OutgoingMessage: Hashable, Sendable {
    /// The id the service chose.
    public var messageID: MessageID
    /// Who sends it.
    public var sender: UserID
    /// The text, already validated.
    public var content: String

    /// Creates an outgoing message.
    public init(messageID: MessageID, sender: UserID, content: String) {
        self.messageID = messageID
        self.sender = sender
        self.content = content
    }
}

/// A group message waiting in the fan-out queue.
public struct QueuedGroupMessage: Hashable, Sendable {
    /// The message id.
    public var messageID: MessageID
    /// The group it was sent to.
    public var groupID: GroupID
    /// Who sent it.
    public var sender: UserID
    /// When the server accepted it: every copy's `sentAt`.
    public var sentAt: MessageDate

    /// Creates a queued group message.
    public init(messageID: MessageID, groupID: GroupID, sender: UserID, sentAt: MessageDate) {
        self.messageID = messageID
        self.groupID = groupID
        self.sender = sender
        self.sentAt = sentAt
    }
}

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
