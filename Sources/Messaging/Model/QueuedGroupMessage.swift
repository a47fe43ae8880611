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
