/// `{"userId": …}`.
struct AddMemberRequestBody: Decodable {
    var userId: String
}
