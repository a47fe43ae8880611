import Messaging

/// `{"messages": [...], "nextPageToken": …}`; the token key is absent on the last page.
struct InboxPageBody: Encodable {
    var messages: [MessageBody]
    var nextPageToken: String?

    init(_ page: InboxPage) {
        messages = page.messages.map(MessageBody.init)
        nextPageToken = page.nextPageToken?.iso8601String
    }
}
