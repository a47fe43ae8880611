/// The contents of `CONSUMER.qstate`: the acked sequences, and how many times
/// unacked messages were delivered (so that a message that crashes its
/// consumer process each time still reaches the dead-letter queue).
///
/// Records (docs/queue-format.md): a snapshot (kind 2), then ack deltas
/// (kind 3) and delivery records (kind 4) in any order:
///
///     deliveries: kind=4 | count varint | (sequence varint, attempt varint)*
///
/// Delivery records are written without `fdatasync` (a process crash keeps
/// them; a power loss may lose some, which only lowers a count).
struct ConsumerState {
    /// Acked sequences; nil until the snapshot record is read.
    var acked: AckedSequences?
    /// The latest delivery number of sequences, as recorded (acked ones included).
    var deliveries: [UInt64: UInt32] = [:]

    /// Applies one record of the file.
    mutating func apply(_ record: UnsafeRawBufferPointer, file: String, offset: Int64) throws {
        guard record.first == QueueFormat.Kind.deliveries.rawValue else {
            try AckedSequences.apply(record, to: &acked, file: file, offset: offset)
            return
        }
        guard acked != nil else {
            throw StoreError.corruption("delivery record before the consumer snapshot", file: file, offset: offset)
        }
        var cursor = ByteCursor(record, offset: 1)
        guard let count = cursor.readLength(limit: 1 << 24) else {
            throw StoreError.corruption("bad delivery record", file: file, offset: offset)
        }
        for _ in 0..<count {
            guard let sequence = cursor.readVarint(), let attempt = cursor.readVarint(), attempt <= UInt64(UInt32.max) else {
                throw StoreError.corruption("bad delivery record", file: file, offset: offset)
            }
            deliveries[sequence] = max(deliveries[sequence] ?? 0, UInt32(attempt))
        }
        guard cursor.isAtEnd else {
            throw StoreError.corruption("bytes after a delivery record", file: file, offset: offset)
        }
    }

    /// A delivery record.
    static func encodedDeliveries(_ deliveries: [(sequence: UInt64, attempt: UInt32)]) -> [UInt8] {
        var bytes: [UInt8] = [QueueFormat.Kind.deliveries.rawValue]
        bytes.appendVarint(UInt64(deliveries.count))
        for (sequence, attempt) in deliveries {
            bytes.appendVarint(sequence)
            bytes.appendVarint(UInt64(attempt))
        }
        return bytes
    }

    /// Reads a consumer state file (strict: corruption before the tail throws).
    static func read(path: String, fileSystem: any FileSystem) throws -> (state: ConsumerState, summary: LogReader.Summary) {
        var state = ConsumerState()
        let summary = try LogReader(path: path, mode: .strict).read(using: fileSystem) { offset, record in
            try state.apply(record, file: path, offset: offset)
        }
        return (state, summary)
    }
}
