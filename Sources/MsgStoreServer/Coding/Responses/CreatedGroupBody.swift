/// `201 {"groupId": …}`.
struct CreatedGroupBody: Encodable {
    var groupId: String
}
