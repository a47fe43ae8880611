/// The key of a row: a partition key, hashed to choose the row's partition,
/// and a sort key that orders rows within a partition key.
public struct RowKey: Hashable, Sendable {
    /// Chooses the partition (a stable hash) and groups rows; scans stay within one.
    public var partitionKey: [UInt8]
    /// Orders rows that share a partition key (bytewise).
    public var sortKey: [UInt8]

    /// Creates a row key.
    public init(partitionKey: [UInt8], sortKey: [UInt8] = []) {
        self.partitionKey = partitionKey
        self.sortKey = sortKey
    }
}

/// Declares a table: its name, how many partitions (independent LSM trees)
/// it is split into, and its secondary indexes.
///
/// The partition count is fixed when the data directory is created; opening
/// with a different count fails with ``StoreError/Code/schemaMismatch``.
public struct TableSchema: Sendable {
    /// The table's name, unique in the store.
    public var name: String
    /// Number of partitions, 1...4096. All tables and indexes of a store
    /// together may have at most 16,384 (each costs about 1 MiB of address
    /// space and 32 KiB of memory while the store is open).
    public var partitionCount: Int
    /// Secondary indexes maintained with every write to the table.
    public var indexes: [IndexSchema]
    /// Whether point lookups (``Store/get(_:_:)``) of this table go through
    /// the row cache (``StoreOptions/rowCacheBytes``): worth it for small,
    /// hot tables read by key.
    public var cachesRows: Bool

    /// Declares a table.
    public init(name: String, partitionCount: Int = 8, indexes: [IndexSchema] = [], cachesRows: Bool = false) {
        self.name = name
        self.partitionCount = partitionCount
        self.indexes = indexes
        self.cachesRows = cachesRows
    }
}

/// Declares a sorted secondary index on a table.
///
/// For every row the engine calls ``key`` to get the row's index key; the
/// index entry is written in the same atomic batch as the row, and removed or
/// moved when the row is deleted or overwritten (a `put` reads the old row for
/// that; an `insert` asserts there is none and skips the read).
/// Index keys must be unique per row: include the primary key in the sort key
/// when several rows may share the rest.
public struct IndexSchema: Sendable {
    /// What an index entry holds.
    public enum Kind: String, Sendable {
        /// The index entry holds a copy of the row's value: a scan needs no second read.
        case covering
        /// The index entry holds the row's primary key (``IndexReference``).
        case referencing
    }

    /// The index's name, unique within its table.
    public var name: String
    /// Number of partitions of the index, hashed by the index's partition key.
    public var partitionCount: Int
    /// Covering or referencing.
    public var kind: Kind
    /// The index key of a row, or `nil` if the row is not indexed.
    public var key: @Sendable (_ row: RowKey, _ value: [UInt8]) -> RowKey?

    /// Declares an index.
    public init(
        name: String, partitionCount: Int = 8, kind: Kind,
        key: @escaping @Sendable (_ row: RowKey, _ value: [UInt8]) -> RowKey?
    ) {
        self.name = name
        self.partitionCount = partitionCount
        self.kind = kind
        self.key = key
    }
}

/// Decodes the value of a ``IndexSchema/Kind/referencing`` index entry.
public enum IndexReference {
    /// Encodes a primary key as a referencing index entry stores it.
    public static func encode(_ key: RowKey) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLengthPrefixed(key.partitionKey)
        bytes.appendLengthPrefixed(key.sortKey)
        return bytes
    }

    /// The primary key a referencing index entry points to, or `nil` if malformed.
    public static func decode(_ bytes: [UInt8]) -> RowKey? {
        bytes.withUnsafeBytes { raw in
            var cursor = ByteCursor(raw)
            guard let partition = cursor.readLengthPrefixed(), let sort = cursor.readLengthPrefixed(), cursor.isAtEnd
            else { return nil }
            return RowKey(partitionKey: Array(partition), sortKey: Array(sort))
        }
    }
}

/// A handle on a table or an index, obtained from ``Store/table(_:)`` or
/// ``Store/index(_:on:)``; cheap to copy and pass around.
public struct Table: Hashable, Sendable, CustomStringConvertible {
    /// The table's name (an index: `table.index`).
    public let name: String
    /// The stable 32-bit id stored in the log and the manifest.
    let id: UInt32
    /// Number of partitions.
    public let partitionCount: Int
    /// For an index: what its entries hold; `nil` for a table.
    public let indexKind: IndexSchema.Kind?
    /// Whether writes to this table maintain secondary indexes.
    let hasIndexes: Bool
    /// Whether point lookups use the row cache.
    var cachesRows: Bool = false

    /// The table's name.
    public var description: String { name }
}
