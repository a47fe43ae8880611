/// `201 {"userId": …}`.
struct CreatedUserBody: Encodable {
    var userId: String
}
