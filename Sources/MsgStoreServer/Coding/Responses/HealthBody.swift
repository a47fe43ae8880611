/// `{"status": "ok"}`.
struct HealthBody: Encodable {
    var status: String
}
