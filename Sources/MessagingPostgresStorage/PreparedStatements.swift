import Foundation
import PostgresNIO

/// The statements of the hot paths (every send checks users and blocks, then
/// writes; every poll reads a page), prepared once per connection: the server
/// parses and plans them once, not at every call as it does an unnamed statement.
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

    /// A direct message: the recipient's head upserted (locked to the commit) and the entry
    /// written with the date it hands out (see ``PostgresMessagingStorage``). Returns the date.
    struct DirectSend: PostgresPreparedStatement {
        static let sql = """
            WITH head AS (
                INSERT INTO inbox_heads AS h (recipient, last_date) VALUES ($1, \(PostgresMessagingStorage.nowMicros))
                ON CONFLICT (recipient) DO UPDATE SET last_date = GREATEST(EXCLUDED.last_date, h.last_date + 1)
                RETURNING last_date)
            INSERT INTO inbox (recipient, date, message_id, sender, sent_at, group_id, content)
            SELECT $1, last_date, $2, $3, last_date, NULL, $4 FROM head RETURNING date
            """
        typealias Row = Int64
        var recipient: UUID
        var messageID: UUID
        var sender: UUID
        var content: String

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings()
            bindings.append(recipient)
            bindings.append(messageID)
            bindings.append(sender)
            bindings.append(content)
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
