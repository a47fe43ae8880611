import Foundation
import PostgresNIO

/// The reads of the hot paths (every send checks users and blocks; every poll
/// reads a page), prepared once per connection: the server parses and plans
/// them once, not at every call as it does an unnamed statement. (Writes are
/// unnamed statements pipelined with their BEGIN and COMMIT: one round trip.)
enum Prepared {
    /// Whether a user exists.
    struct UserExists: PostgresPreparedStatement {
        static let sql = "SELECT 1 FROM users WHERE user_id = $1"
        typealias Row = Int32
        var user: UUID

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(user)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Whether `blocker` blocks `blocked`.
    struct BlockExists: PostgresPreparedStatement {
        static let sql = "SELECT 1 FROM blocks WHERE blocker = $1 AND blocked = $2"
        typealias Row = Int32
        var blocker: UUID
        var blocked: UUID

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(blocker)
            bindings.append(blocked)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Whether a group exists.
    struct GroupExists: PostgresPreparedStatement {
        static let sql = "SELECT 1 FROM groups WHERE group_id = $1"
        typealias Row = Int32
        var group: UUID

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(group)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Whether a user is a member of a group.
    struct MemberExists: PostgresPreparedStatement {
        static let sql = "SELECT 1 FROM members WHERE group_id = $1 AND user_id = $2"
        typealias Row = Int32
        var group: UUID
        var user: UUID

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(group)
            bindings.append(user)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Up to `limit` entries of an inbox dated after `after`, in date order.
    struct InboxPage: PostgresPreparedStatement {
        static let sql = """
            SELECT date, message_id, sender, sent_at, group_id, content FROM inbox
            WHERE recipient = $1 AND date > $2 ORDER BY date LIMIT $3
            """
        typealias Row = (Int64, UUID, UUID, Int64, UUID?, String?)
        var recipient: UUID
        var after: Int64
        var limit: Int64

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(recipient)
            bindings.append(after)
            bindings.append(limit)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }
}
