/// `{"blockerId": …, "blockedId": …}`.
struct BlockRequestBody: Decodable {
    var blockerId: String
    var blockedId: String
}
