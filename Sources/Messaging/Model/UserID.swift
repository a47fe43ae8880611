import Foundation

/// The id of a user: a UUID, printed in lowercase.
public struct UserID: Hashable, Sendable, Comparable, CustomStringConvertible {
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
    public static func random() -> UserID { UserID(UUID()) }

    /// The lowercase UUID string.
    public var description: String { UUIDText.lowercase(uuid) }

    public static func < (lhs: UserID, rhs: UserID) -> Bool { lhs.uuid.uuidString < rhs.uuid.uuidString }
}
