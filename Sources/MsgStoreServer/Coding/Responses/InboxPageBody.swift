import Messaging

/// `{"messages": [...], "nextPageToken": …}`; the token key is absent on the last page.
///
/// The reference definition of the page's JSON: responses are written by
/// ``InboxPageWriter`` straight into a buffer, and its tests compare it with
/// what `JSONEncoder` makes of this type.
struct InboxPageBody: Encodable {
    var messages: [MessageBody]
    var nextPageToken: String?

    init(_ page: InboxPage) {
        messages = page.messages.map(MessageBody.init)
        nextPageToken = page.nextPageToken?.iso8601String
    }
}
