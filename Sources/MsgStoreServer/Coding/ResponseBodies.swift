import Messaging

/// `201 {"userId": …}`.
struct CreatedUserBody: Encodable {
    var userId: String
}

/// `201 {"groupId": …}`.
struct CreatedGroupBody: Encodable {
    var groupId: String
}

/// `{"members": [...]}`.
struct MembersBody: Encodable {
    var members: [String]
}

/// `201`/`202 {"messageId": …, "date": …}`.
struct SentMessageBody: Encodable {
    var messageId: String
    var date: String

    init(_ sent: SentMessage) {
        messageId = sent.messageID.description
        date = sent.date.iso8601String
    }
}

/// One message of an inbox page; `groupId` is absent on direct messages.
struct MessageBody: Encodable {
    var messageId: String
    var sender: String
    var recipient: String
    var content: String
    var date: String
    var sentAt: String
    var groupId: String?

    init(_ message: InboxMessage) {
        messageId = message.messageID.description
        sender = message.sender.description
        recipient = message.recipient.description
        content = message.content
        date = message.date.iso8601String
        sentAt = message.sentAt.iso8601String
        groupId = message.groupID?.description
    }
}

/// `{"messages": [...], "nextPageToken": …}`; the token key is absent on the last page.
struct InboxPageBody: Encodable {
    var messages: [MessageBody]
    var nextPageToken: String?

    init(_ page: InboxPage) {
        messages = page.messages.map(MessageBody.init)
        nextPageToken = page.nextPageToken?.iso8601String
    }
}

/// `{"status": "ok"}`.
struct HealthBody: Encodable {
    var status: String
}
