/// `{"sender": …, "content": …}`.
struct SendMessageRequestBody: Decodable {
    var sender: String
    var content: String
}
