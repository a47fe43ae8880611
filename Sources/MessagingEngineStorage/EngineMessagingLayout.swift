import Messaging
import Foundation
import MsgStore

/// How the messaging domain lays its data out in the msgstore engine.
///
///     table      partition key   sort key                     value
///     users      user(16)        —                            —
///     blocks     blocker(16)     blocked(16)                  —
///     groups     group(16)       —                            —
///     members    group(16)       user(16)                     addedAt(8, BE, commit stamp)
///     inbox      recipient(16)   date(8, BE, commit stamp) ‖ messageId(16)
///                                                             0 ‖ sender(16) ‖ content        (direct)
///                                                             1                              (group copy)
///     bodies     messageId(16)   —                            sender(16) ‖ group(16) ‖ sentAt(8, BE, commit stamp) ‖ content
///     fanout     messageId(16)   —                            0 ‖ done member ids(16 each) | 0xFF (fanned out)
///
///     queue `fanout` (durable queue): messageId(16) ‖ group(16)
///
/// The inbox is the `recipient-date` index of the original design: a table
/// partitioned by recipient and sorted by (date, messageId), so that "inbox of
/// R after D, first N" is one seek and a forward scan. A direct message lives
/// in its inbox entry; a group message's body is stored once (`bodies`) and
/// each member's entry references it by the message id in its key.
enum EngineMessagingLayout {
    static let tables: [TableSchema] = [
        TableSchema(name: "users", partitionCount: 4, cachesRows: true),
        TableSchema(name: "blocks", partitionCount: 4, cachesRows: true),
        TableSchema(name: "groups", partitionCount: 2, cachesRows: true),
        TableSchema(name: "members", partitionCount: 4, cachesRows: true),
        TableSchema(name: "inbox", partitionCount: 16),
        TableSchema(name: "bodies", partitionCount: 8, cachesRows: true),
        TableSchema(name: "fanout", partitionCount: 2, cachesRows: true),
    ]

    static let fanOutQueue = "fanout"

    static let directEntry: UInt8 = 0
    static let groupEntry: UInt8 = 1
    static let fanOutInProgress: UInt8 = 0
    static let fanOutDone: UInt8 = 0xFF

    /// The 16 bytes of a UUID.
    static func bytes(_ uuid: UUID) -> [UInt8] {
        withUnsafeBytes(of: uuid.uuid) { Array($0) }
    }

    /// A UUID from 16 bytes.
    static func uuid(_ bytes: some Collection<UInt8>) -> UUID? {
        guard bytes.count == 16 else { return nil }
        let b = Array(bytes)
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }

    static func bigEndian(_ value: Int64) -> [UInt8] {
        withUnsafeBytes(of: UInt64(bitPattern: value).bigEndian) { Array($0) }
    }

    static func int64(bigEndian bytes: some Collection<UInt8>) -> Int64 {
        Int64(bitPattern: bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }
}
