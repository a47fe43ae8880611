import Messaging

/// `{"messages": [...], "nextPageToken": …}`; the token key is absent on the last page.
///
/// The reference definition of the page's JSON: responses are written by
/// ``InboxPageWriter`` straight into a buffer, and its tests compare it with
/// what `JSONEncoder` makes of this type. Public for `Benchmarks/BareRoute`,
/// which measures the same encodings without storage.
public struct InboxPageBody: Encodable {
    var messages: [MessageBody]
    var nextPageToken: String?

    /// The page's body.
    public init(_ page: InboxPage) {
        messages = page.messages.map(MessageBody.init)
        nextPageToken = page.nextPageToken?.iso8601String
    }
}
