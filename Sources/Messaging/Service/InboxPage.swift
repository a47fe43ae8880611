/// One page of an inbox.
public struct InboxPage: Hashable, Sendable {
    /// The messages, ascending by date.
    public var messages: [InboxMessage]
    /// The date of the last message when more messages exist after this page;
    /// nil when this is the last page (also when it is exactly full).
    public var nextPageToken: MessageDate?

    /// Creates a page.
    public init(messages: [InboxMessage], nextPageToken: MessageDate?) {
        self.messages = messages
        self.nextPageToken = nextPageToken
    }
}

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
