/// Puts and deletes over any tables, applied atomically: a reader sees all of
/// a batch or none of it, and batches become visible in commit order.
///
/// A batch is encoded as it is built, in the write-ahead log's op format
/// (docs/wal-format.md), so committing it copies nothing:
///
///     batch  := header(20, filled at commit) op*
///     header := baseSequence u64 | timestamp i64 | count u32      (little-endian)
///     op     := kind u8 | flags u8 | tableId u32
///               | [stamp offset varint, if flags & 2]
///               | [stamp offset varint, if flags & 4]
///               | varint(userKey.count) | userKey
///               | [varint(value.count) | value, if kind == value]
///     userKey := varint(partitionKey.count) | partitionKey | sortKey
///     kind  := 0 delete | 1 put;  flags: 1 insert, 2 stamp in user key, 4 stamp in value
///
/// **Commit stamps.** Every committed batch gets a *commit timestamp*: a
/// microsecond time from the store's monotonic clock, unique and increasing
/// in commit (sequence) order, persisted so it never goes back across
/// restarts. An op may ask for it to be written, as 8 big-endian bytes, into
/// its sort key or value at a given offset (the bytes there are overwritten).
/// That is how a row is dated in commit order (a time-ordered sort key whose
/// order matches the order in which rows become visible).
public struct WriteBatch: Sendable {
    static let headerSize = 20

    var bytes: [UInt8]
    /// Number of ops.
    public private(set) var count = 0
    /// Whether any op touches a table with indexes (the commit expands them).
    var touchesIndexedTable = false
    /// Whether any op asked for the commit timestamp.
    var hasStamps = false
    /// The longest key (partition + sort key) and value among the ops.
    var maxKeyBytes = 0
    var maxValueBytes = 0

    /// An empty batch.
    public init() {
        bytes = [UInt8](repeating: 0, count: WriteBatch.headerSize)
        bytes.reserveCapacity(256)
    }

    /// Whether the batch holds no op.
    public var isEmpty: Bool { count == 0 }

    /// Bytes the batch occupies in the log.
    public var byteCount: Int { bytes.count }

    /// Writes `value` under `key`, replacing any previous value (and moving its index entries).
    ///
    /// - Parameters:
    ///   - table: the table (or, never directly, an index: indexes are maintained by the store).
    ///   - key: the row's partition key and sort key.
    ///   - value: the row's value.
    ///   - stampSortKeyAt: if set, the commit timestamp is written as 8 big-endian
    ///     bytes at this offset of the sort key. REQUIRES: `offset + 8 <= sortKey.count`.
    ///   - stampValueAt: likewise within the value.
    public mutating func put(
        _ table: Table, _ key: RowKey, value: [UInt8],
        stampSortKeyAt: Int? = nil, stampValueAt: Int? = nil
    ) {
        append(kind: .value, table: table, key: key, value: value, insert: false,
               stampSortKeyAt: stampSortKeyAt, stampValueAt: stampValueAt)
    }

    /// Writes a row that the caller guarantees does not exist yet (a fresh id):
    /// like ``put(_:_:value:stampSortKeyAt:stampValueAt:)`` but index
    /// maintenance skips reading the old row. If the row did exist, its old
    /// index entries are left behind.
    public mutating func insert(
        _ table: Table, _ key: RowKey, value: [UInt8],
        stampSortKeyAt: Int? = nil, stampValueAt: Int? = nil
    ) {
        append(kind: .value, table: table, key: key, value: value, insert: true,
               stampSortKeyAt: stampSortKeyAt, stampValueAt: stampValueAt)
    }

    /// Deletes the row (and its index entries); deleting a missing row is not an error.
    public mutating func delete(_ table: Table, _ key: RowKey) {
        append(kind: .deletion, table: table, key: key, value: nil, insert: false,
               stampSortKeyAt: nil, stampValueAt: nil)
    }

    private mutating func append(
        kind: InternalKey.Kind, table: Table, key: RowKey, value: [UInt8]?, insert: Bool,
        stampSortKeyAt: Int?, stampValueAt: Int?
    ) {
        maxKeyBytes = Swift.max(maxKeyBytes, key.partitionKey.count + key.sortKey.count)
        maxValueBytes = Swift.max(maxValueBytes, value?.count ?? 0)
        var flags: UInt8 = insert ? 1 : 0
        if stampSortKeyAt != nil { flags |= 2 }
        if stampValueAt != nil { flags |= 4 }
        if flags & 6 != 0 { hasStamps = true }
        bytes.append(kind.rawValue)
        bytes.append(flags)
        bytes.appendFixed32(table.id)
        let prefixLength = varintLength(UInt64(key.partitionKey.count)) + key.partitionKey.count
        if let offset = stampSortKeyAt {
            precondition(offset >= 0 && offset + 8 <= key.sortKey.count, "stamp offset outside the sort key")
            bytes.appendVarint(prefixLength + offset)
        }
        if let offset = stampValueAt {
            precondition(offset >= 0 && offset + 8 <= (value?.count ?? 0), "stamp offset outside the value")
            bytes.appendVarint(offset)
        }
        bytes.appendVarint(prefixLength + key.sortKey.count)
        bytes.appendLengthPrefixed(key.partitionKey)
        bytes.append(contentsOf: key.sortKey)
        if let value { bytes.appendLengthPrefixed(value) }
        count += 1
        if table.hasIndexes { touchesIndexedTable = true }
    }

    /// Appends an encoded op (used by index maintenance at commit).
    mutating func appendRaw(kind: InternalKey.Kind, tableId: UInt32, userKey: [UInt8], value: [UInt8]?) {
        bytes.append(kind.rawValue)
        bytes.append(0)
        bytes.appendFixed32(tableId)
        bytes.appendLengthPrefixed(userKey)
        if let value { bytes.appendLengthPrefixed(value) }
        count += 1
    }
}

/// One decoded op of a batch; views into the batch's bytes.
struct BatchOp {
    var kind: InternalKey.Kind
    var flags: UInt8
    var tableId: UInt32
    var userKey: UnsafeRawBufferPointer
    var value: UnsafeRawBufferPointer
    /// Offsets (within the batch bytes) where the commit stamp goes, if asked.
    var stampKeyPosition: Int?
    var stampValuePosition: Int?

    var isInsert: Bool { flags & 1 != 0 }
}

/// Decodes the ops of an encoded batch (WAL record or pending batch).
enum BatchDecoder {
    /// The header of an encoded batch.
    struct Header {
        var baseSequence: UInt64
        var timestamp: Int64
        var count: Int
    }

    static func header(_ bytes: UnsafeRawBufferPointer) -> Header? {
        guard bytes.count >= WriteBatch.headerSize else { return nil }
        var cursor = ByteCursor(bytes)
        guard let base = cursor.readFixed64(), let time = cursor.readFixed64(), let count = cursor.readFixed32() else { return nil }
        return Header(baseSequence: base, timestamp: Int64(bitPattern: time), count: Int(count))
    }

    /// Calls `body` for each op; returns false if the bytes are malformed.
    static func forEachOp(_ bytes: UnsafeRawBufferPointer, _ body: (BatchOp) throws -> Void) rethrows -> Bool {
        var cursor = ByteCursor(bytes, offset: WriteBatch.headerSize)
        while !cursor.isAtEnd {
            guard let kindByte = cursor.readByte(), let kind = InternalKey.Kind(rawValue: kindByte),
                  let flags = cursor.readByte(), let tableId = cursor.readFixed32() else { return false }
            var stampKey: Int?
            var stampValue: Int?
            if flags & 2 != 0 {
                guard let offset = cursor.readLength() else { return false }
                stampKey = offset
            }
            if flags & 4 != 0 {
                guard let offset = cursor.readLength() else { return false }
                stampValue = offset
            }
            guard let keyLength = cursor.readLength() else { return false }
            let keyStart = cursor.offset
            guard let userKey = cursor.readBytes(keyLength) else { return false }
            var value = UnsafeRawBufferPointer(start: nil, count: 0)
            var valueStart = cursor.offset
            if kind == .value {
                guard let length = cursor.readLength() else { return false }
                valueStart = cursor.offset
                guard let bytes = cursor.readBytes(length) else { return false }
                value = bytes
            }
            if let offset = stampKey, offset + 8 > keyLength { return false }
            if let offset = stampValue, offset + 8 > value.count { return false }
            try body(BatchOp(
                kind: kind, flags: flags, tableId: tableId, userKey: userKey, value: value,
                stampKeyPosition: stampKey.map { keyStart + $0 },
                stampValuePosition: stampValue.map { valueStart + $0 }))
        }
        return true
    }
}
