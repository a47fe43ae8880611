import Messaging

/// `{"members": [...], "nextPageToken": "<uuid>"}`; the token only when more members follow.
struct MembersBody: Encodable {
    var members: [String]
    var nextPageToken: String?

    init(_ page: MembersPage) {
        members = page.members.map(\.description)
        nextPageToken = page.nextPageToken?.description
    }
}
