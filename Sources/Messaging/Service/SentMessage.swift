/// What a send returns: the message id and its date (a direct message's inbox
/// date; a group message's acceptance date).
public struct SentMessage: Hashable, Sendable {
    /// The new message's id.
    public var messageID: MessageID
    /// Its date.
    public var date: MessageDate

    /// Creates a result.
    public init(messageID: MessageID, date: MessageDate) {
        self.messageID = messageID
        self.date = date
    }
}
