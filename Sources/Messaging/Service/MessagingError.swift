/// A domain error: what went wrong, in terms a client can act on. The server
/// maps each code to one HTTP status in one place.
public struct MessagingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Hashable, Sendable {
        /// The request is invalid (bad id, empty content, same user, bad limit).
        case badRequest = "bad_request"
        /// The caller may not do this (blocked, not a member).
        case forbidden
        /// A user or group does not exist.
        case notFound = "not_found"
        /// The content exceeds the configured maximum.
        case payloadTooLarge = "payload_too_large"
        /// The store is closed or cannot serve.
        case unavailable
    }

    /// The kind of failure.
    public var code: Code
    /// A human sentence saying what failed.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
