import Messaging

/// `201`/`202 {"messageId": …, "date": …}`.
struct SentMessageBody: Encodable {
    var messageId: String
    var date: String

    init(_ sent: SentMessage) {
        messageId = sent.messageID.description
        date = sent.date.iso8601String
    }
}
