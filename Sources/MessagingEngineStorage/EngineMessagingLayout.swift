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
///     bodies     messageId(16)   —                            sender(16) ‖ group(16) ‖ sentAt(8, BE) ‖ content
///     fanout     messageId(16)   —                            cursor: the last member id served (16)
///
///     queue `fanout` (durable queue, CRC-checked records, no retry limit, dead letters in `fanout.dlq`,
///     segments preallocated and no larger than a log segment, acks not fdatasync'ed):
///         version(1) = 1 ‖ messageId(16) ‖ group(16) ‖ sender(16) ‖ sentAt(8, BE, commit stamp) ‖ content (UTF-8)
///
/// A group message is accepted by enqueueing its record (one `fdatasync`);
/// `sentAt` is a value of the store's commit clock taken without a write. The
/// fan-out writes, per batch and atomically: the inbox entries of the next
/// members after the cursor (members table order: user id bytes), the new
/// cursor, and — first batch only — the body; the last batch deletes the
/// cursor instead. A body without a cursor means "fully delivered"; a cursor
/// means "resume after it"; neither means "not started". Bodies are kept
/// forever (every copy references its body); cursors live only while a
/// message is being fanned out.
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
    /// The value of every group copy (one shared array).
    static let groupEntryValue: [UInt8] = [groupEntry]

    /// The 16 bytes of a UUID.
    static func bytes(_ uuid: UUID) -> [UInt8] {
        withUnsafeBytes(of: uuid.uuid) { Array($0) }
    }

    /// A UUID from 16 bytes.
    static func uuid(_ bytes: some Collection<UInt8>) -> UUID? {
        guard bytes.count == 16 else { return nil }
        if let uuid = bytes.withContiguousStorageIfAvailable({ uuid(UnsafeRawBufferPointer($0), at: 0) }) { return uuid }
        return Array(bytes).withUnsafeBytes { uuid($0, at: 0) }
    }

    /// The UUID in the 16 bytes of `raw` at `offset`. REQUIRES: `offset + 16 <= raw.count`.
    @inline(__always)
    static func uuid(_ raw: UnsafeRawBufferPointer, at offset: Int) -> UUID {
        precondition(offset >= 0 && offset + 16 <= raw.count)
        return UUID(uuid: raw.loadUnaligned(fromByteOffset: offset, as: uuid_t.self))
    }

    /// The big-endian Int64 of `raw` at `offset`. REQUIRES: `offset + 8 <= raw.count`.
    @inline(__always)
    static func int64(bigEndian raw: UnsafeRawBufferPointer, at offset: Int) -> Int64 {
        precondition(offset >= 0 && offset + 8 <= raw.count)
        return Int64(bitPattern: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
    }

    static func bigEndian(_ value: Int64) -> [UInt8] {
        withUnsafeBytes(of: UInt64(bitPattern: value).bigEndian) { Array($0) }
    }

    static func int64(bigEndian bytes: some Collection<UInt8>) -> Int64 {
        Int64(bitPattern: bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }
}

/// The payload of a `fanout` queue record: a whole group message
/// (layout: ``EngineMessagingLayout``). The queue frames it with a CRC32C.
struct FanOutRecord: Equatable {
    static let version: UInt8 = 1
    static let headerBytes = 1 + 16 + 16 + 16 + 8

    var messageID: MessageID
    var groupID: GroupID
    var sender: UserID
    /// The acceptance date: a commit stamp (µs since the epoch).
    var sentAt: Int64
    var content: [UInt8]

    init(messageID: MessageID, groupID: GroupID, sender: UserID, sentAt: Int64, content: [UInt8]) {
        self.messageID = messageID
        self.groupID = groupID
        self.sender = sender
        self.sentAt = sentAt
        self.content = content
    }

    /// Decodes a record; nil if it is not one (wrong version, too short, not UTF-8).
    init?(decoding payload: [UInt8]) {
        guard payload.count > Self.headerBytes, payload[0] == Self.version,
              let id = EngineMessagingLayout.uuid(payload[1..<17]),
              let group = EngineMessagingLayout.uuid(payload[17..<33]),
              let sender = EngineMessagingLayout.uuid(payload[33..<49])
        else { return nil }
        let content = Array(payload[Self.headerBytes...])
        guard String(validating: content, as: UTF8.self) != nil else { return nil }
        self.init(messageID: MessageID(id), groupID: GroupID(group), sender: UserID(sender),
                  sentAt: EngineMessagingLayout.int64(bigEndian: payload[49..<57]), content: content)
    }

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = [Self.version]
        bytes.reserveCapacity(Self.headerBytes + content.count)
        bytes += EngineMessagingLayout.bytes(messageID.uuid)
        bytes += EngineMessagingLayout.bytes(groupID.uuid)
        bytes += EngineMessagingLayout.bytes(sender.uuid)
        bytes += EngineMessagingLayout.bigEndian(sentAt)
        bytes += content
        return bytes
    }

    /// The `bodies` row: sender(16) ‖ group(16) ‖ sentAt(8, BE) ‖ content.
    func bodyValue() -> [UInt8] {
        var bytes = EngineMessagingLayout.bytes(sender.uuid)
        bytes.reserveCapacity(40 + content.count)
        bytes += EngineMessagingLayout.bytes(groupID.uuid)
        bytes += EngineMessagingLayout.bigEndian(sentAt)
        bytes += content
        return bytes
    }

    /// The domain's view of the queued message.
    var message: QueuedGroupMessage {
        QueuedGroupMessage(messageID: messageID, groupID: groupID, sender: sender,
                           sentAt: MessageDate(microsecondsSinceEpoch: sentAt))
    }
}

/// A one-line description of a `fanout` queue record's payload (message id,
/// group, sender, `sentAt`, content size), or nil if it is not a valid record:
/// what `msgstore queue list` prints for each message.
public func describeFanOutRecord(_ payload: [UInt8]) -> String? {
    guard let record = FanOutRecord(decoding: payload) else { return nil }
    return "message \(record.messageID) group \(record.groupID) sender \(record.sender) "
        + "sentAt \(MessageDate(microsecondsSinceEpoch: record.sentAt)) content \(record.content.count) bytes"
}
