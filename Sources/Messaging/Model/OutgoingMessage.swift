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
