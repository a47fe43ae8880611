import Messaging

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
