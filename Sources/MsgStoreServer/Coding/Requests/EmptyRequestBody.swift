/// Any JSON object: the optional body of `POST /users` and `POST /groups`.
struct EmptyRequestBody: Decodable {
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        // Requires an object (a synthesized empty init would accept any JSON value).
        _ = try decoder.container(keyedBy: AnyKey.self)
    }
}
