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

/// One page of a group's member list.
public struct MembersPage: Hashable, Sendable {
    /// Member ids, ascending.
    public var members: [UserID]
    /// The last id of this page when more members follow; pass it back as the
    /// cursor. Nil on the last page.
    public var nextPageToken: UserID?

    /// Creates a page.
    public init(members: [UserID], nextPageToken: UserID?) {
        self.members = members
        self.nextPageToken = nextPageToken
    }
}
