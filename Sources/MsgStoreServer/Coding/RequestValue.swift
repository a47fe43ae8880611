import Hummingbird
import Messaging

/// Parsing of ids and dates from bodies, paths and queries, with 400s naming the field.
enum RequestValue {
    /// A user id from `field`; 400 if it is not a UUID.
    static func userID(_ text: String, field: String) throws -> UserID {
        guard let id = UserID(text) else { throw APIError.badRequest("\(field) must be a UUID, got '\(text)'.") }
        return id
    }

    /// A group id from `field`; 400 if it is not a UUID.
    static func groupID(_ text: String, field: String) throws -> GroupID {
        guard let id = GroupID(text) else { throw APIError.badRequest("\(field) must be a UUID, got '\(text)'.") }
        return id
    }

    /// A path parameter as a user id.
    static func userID(parameter name: String, in context: some RequestContext) throws -> UserID {
        try userID(context.parameters.get(name) ?? "", field: name)
    }

    /// A path parameter as a group id.
    static func groupID(parameter name: String, in context: some RequestContext) throws -> GroupID {
        try groupID(context.parameters.get(name) ?? "", field: name)
    }

    /// The `limit` query parameter: nil when absent; 400 unless an integer
    /// (the service checks the range).
    static func limit(_ text: String?, max: Int) throws -> Int? {
        guard let text else { return nil }
        // Digits only: no sign, no spaces (Int("+5") would take a sign).
        guard !text.isEmpty, text.utf8.count <= 9, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = Int(text)
        else {
            throw APIError.badRequest("limit must be an integer between 1 and \(max), got '\(text)'.")
        }
        return value
    }

    /// The `wait` query parameter of a long poll, in whole seconds: zero when
    /// absent; 400 unless digits only with a value from 0 to `max`.
    static func wait(_ text: String?, max: Int) throws -> Duration {
        guard let text else { return .zero }
        guard !text.isEmpty, text.utf8.count <= 9, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = Int(text), value <= max
        else {
            throw APIError.badRequest("wait must be a whole number of seconds from 0 to \(max), got '\(text)'.")
        }
        return .seconds(value)
    }

    /// An ISO-8601 date from `field`; 400 if it does not parse.
    static func date(_ text: String, field: String) throws -> MessageDate {
        guard let date = MessageDate(iso8601: text) else {
            throw APIError.badRequest(
                "\(field) must be an ISO-8601 UTC date such as 2024-06-24T10:49:53.159123Z, got '\(text)'.")
        }
        return date
    }
}
