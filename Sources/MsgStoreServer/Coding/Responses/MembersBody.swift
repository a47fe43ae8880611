/// `{"members": [...]}`.
struct MembersBody: Encodable {
    var members: [String]
}
