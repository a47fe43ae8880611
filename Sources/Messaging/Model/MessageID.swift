import Foundation

/// The id of a message: a UUID, printed in lowercase. Every copy of a group
/// message carries the same id.
public struct MessageID: Hashable, Sendable, CustomStringConvertible {
    /// The underlying UUID.
    public let uuid: UUID

    /// Wraps a UUID.
    public init(_ uuid: UUID) { self.uuid = uuid }

    /// Parses a UUID string in either case; nil if it is not a UUID.
    public init?(_ string: String) {
        guard let uuid = UUIDText.parse(string) else { return nil }
        self.uuid = uuid
    }

    /// A new random id.
    public static func random() -> MessageID { MessageID(UUID()) }

    /// The lowercase UUID string.
    public var description: String { UUIDText.lowercase(uuid) }
}
