import Foundation
import Messaging
import MsgStore

/// Renders the rows of a messaging data directory for `msgstore inspect`:
/// ids as lowercase UUIDs (as the API prints them), dates and commit stamps as
/// ISO-8601 (``MessageDate``'s wire form), content as text.
///
/// It knows the layout of `Sources/MessagingEngineStorage/EngineMessagingLayout.swift`
/// by table name:
///
///     users    user                     —                         —
///     blocks   blocker                  blocked                   —
///     groups   group                    —                         —
///     members  group                    user                      addedAt
///     inbox    recipient                date ‖ messageId          0 ‖ sender ‖ content | 1 (group copy)
///     bodies   messageId                —                         sender ‖ group ‖ sentAt ‖ content
///     fanout   messageId                —                         0 ‖ done member ids | 0xFF
///
///     queue fanout: messageId ‖ group
///
/// Anything else — another table, or a key or value that does not have the
/// expected shape — falls back to the engine's hex rendering.
struct MessagingKeyRenderer: KeyRenderer {
    private let fallback = HexKeyRenderer()

    func render(table: String, partitionKey: [UInt8], sortKey: [UInt8]) -> String {
        let hex = fallback.render(table: table, partitionKey: partitionKey, sortKey: sortKey)
        guard partitionKey.count == 16 else { return hex }
        let partition = Self.uuid(partitionKey)
        switch (table, sortKey.count) {
        case ("users", 0), ("groups", 0), ("bodies", 0), ("fanout", 0):
            return partition
        case ("blocks", 16), ("members", 16):
            return partition + " | " + Self.uuid(sortKey)
        case ("inbox", 24):
            return partition + " | " + Self.date(sortKey[0..<8]) + " " + Self.uuid(sortKey[8...])
        default:
            return hex
        }
    }

    func render(table: String, value: [UInt8]) -> String {
        switch table {
        case "members" where value.count == 8:
            return "added " + Self.date(value[...])
        case "inbox" where value.count >= 17 && value[0] == 0:
            return "direct from " + Self.uuid(value[1..<17]) + ": " + Self.content(Array(value[17...]))
        case "inbox" where value == [1]:
            return "group copy (body in bodies)"
        case "bodies" where value.count >= 40:
            let group = value[16..<32].allSatisfy { $0 == 0 } ? "" : " to group " + Self.uuid(value[16..<32])
            return "from " + Self.uuid(value[0..<16]) + group + " sent " + Self.date(value[32..<40]) + ": "
                + Self.content(Array(value[40...]))
        case "fanout" where value == [0xFF]:
            return "fanned out"
        case "fanout" where value.first == 0 && (value.count - 1) % 16 == 0:
            let done = stride(from: 1, to: value.count, by: 16).map { Self.uuid(value[$0..<($0 + 16)]) }
            return "in progress, done: " + (done.isEmpty ? "(none)" : done.joined(separator: " "))
        default:
            return fallback.render(table: table, value: value)
        }
    }

    /// A record of a durable queue: the `fanout` queue holds messageId ‖ group.
    func render(queue: String, payload: [UInt8]) -> String {
        guard queue == "fanout", payload.count == 32 else { return HexKeyRenderer.describe(value: payload) }
        return "message " + Self.uuid(payload[0..<16]) + " to group " + Self.uuid(payload[16..<32])
    }

    func render(commitStamp microseconds: Int64) -> String {
        Self.iso8601(microseconds)
    }

    /// ISO-8601 as the API prints dates, or `out-of-range(…µs)` outside the
    /// years 0001…9999 (a crafted or damaged file may hold any 64-bit value).
    static func iso8601(_ microseconds: Int64) -> String {
        guard microseconds >= -62_135_596_800_000_000, microseconds <= 253_402_300_799_999_999 else {
            return "out-of-range(\(microseconds)µs)"
        }
        return MessageDate(microsecondsSinceEpoch: microseconds).iso8601String
    }

    /// An 8-byte big-endian microsecond date.
    private static func date(_ bytes: ArraySlice<UInt8>) -> String {
        iso8601(Int64(bitPattern: bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }))
    }

    /// 16 bytes as a lowercase UUID, as the API prints ids.
    private static func uuid(_ bytes: some Collection<UInt8>) -> String {
        let b = Array(bytes)
        guard b.count == 16 else { return "hex:" + HexKeyRenderer.hex(b) }
        let uuid = UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
        return UserID(uuid).description
    }

    /// Message content: quoted text, cut at 200 characters.
    private static func content(_ bytes: [UInt8]) -> String {
        bytes.isEmpty ? "\"\"" : HexKeyRenderer.describe(value: bytes)
    }
}
