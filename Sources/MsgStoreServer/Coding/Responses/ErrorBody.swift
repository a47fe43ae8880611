/// The body of every error response.
struct ErrorBody: Encodable {
    var error: String
    var message: String
}
