import MsgStore

/// How the benchmark lays the messaging workload out in msgstore — the same
/// shape the messaging service uses (`Sources/MessagingEngineStorage/EngineMessagingLayout.swift`):
/// an inbox table partitioned by recipient and sorted by (date, messageId); a
/// group message's body stored once, each member's inbox entry referencing it.
///
///     blocks:   pk = blocker(16)    sk = blocked(16)               value = empty
///     inbox:    pk = recipient(16)  sk = date(8, BE) ‖ msgId(16)   value = kind(1) ‖ …
///               kind 0 (direct):  ‖ sender(16) ‖ content
///               kind 1 (group):   (nothing: the body is in `bodies` under msgId)
///     bodies:   pk = msgId(16)      sk = empty                     value = sender(16) ‖ groupId(16) ‖ content
enum BenchLayout {
    static let tables: [TableSchema] = [
        TableSchema(name: "blocks", partitionCount: 4, cachesRows: true),
        TableSchema(name: "inbox", partitionCount: 16),
        TableSchema(name: "bodies", partitionCount: 8, cachesRows: true),
    ]

    static let direct: UInt8 = 0
    static let groupReference: UInt8 = 1
}
