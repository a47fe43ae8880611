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
