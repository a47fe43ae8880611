/// The engine's view of one declared table or index: its partitions and, for
/// a table, its indexes.
final class TableState: Sendable {
    let handle: Table
    let partitions: [Partition]
    let indexes: [IndexState]

    init(handle: Table, firstLogNumber: UInt64, indexes: [IndexState]) {
        self.handle = handle
        self.partitions = (0..<handle.partitionCount).map {
            Partition(id: PartitionID(tableId: handle.id, partition: $0), firstLogNumber: firstLogNumber)
        }
        self.indexes = indexes
    }

    /// The partition a user key belongs to: a stable hash (CRC32C) of its partition key.
    @inline(__always)
    func partition(forUserKey userKey: UnsafeRawBufferPointer) -> Partition? {
        guard let prefixLength = RowKeyCoding.prefixLength(userKey) else { return nil }
        var cursor = ByteCursor(userKey)
        _ = cursor.readVarint()
        let partitionKey = UnsafeRawBufferPointer(rebasing: userKey[cursor.offset..<prefixLength])
        return partitions[Self.partitionIndex(partitionKey, count: partitions.count)]
    }

    /// The partition number of a partition key among `count` partitions.
    static func partitionIndex(_ partitionKey: UnsafeRawBufferPointer, count: Int) -> Int {
        Int(CRC32C.checksum(partitionKey) % UInt32(count))
    }
}

/// A declared index and the hidden table that holds its entries.
struct IndexState: Sendable {
    let schema: IndexSchema
    let table: TableState
}

/// The persisted catalog (`SCHEMA` file): every table and index ever declared
/// in the directory, with its id and partition count, so that the log can be
/// replayed and a changed partition count refused.
///
///     SCHEMA := magic "MSGSCHM1" | version u32 | count u32 | entry* | crc32c-masked u32
///     entry  := id u32 | partitions u32 | kind u8 (0 table, 1 covering index, 2 referencing index)
///               | varint(name.count) name
struct SchemaCatalog: Equatable {
    struct Entry: Equatable {
        var id: UInt32
        var name: String
        var partitionCount: Int
        var kind: UInt8
    }

    // File name: ``StoreFileNames/schema``.
    static let magic = Array("MSGSCHM1".utf8)
    static let version: UInt32 = 1
    /// The most partitions all tables and indexes of a store may have together.
    /// Each costs about 1 MiB of address space and 32 KiB of memory from open
    /// on (its memtable's first arena chunk and insert hints): without a bound
    /// a SCHEMA (crafted, or written by a buggy version) could make open
    /// allocate without limit. 16,384 is 400 times what the messaging server declares.
    static let maxTotalPartitions = 16_384

    var entries: [Entry] = []

    func encode() -> [UInt8] {
        var bytes = SchemaCatalog.magic
        bytes.appendFixed32(SchemaCatalog.version)
        bytes.appendFixed32(UInt32(entries.count))
        for entry in entries {
            bytes.appendFixed32(entry.id)
            bytes.appendFixed32(UInt32(entry.partitionCount))
            bytes.append(entry.kind)
            bytes.appendLengthPrefixed(Array(entry.name.utf8))
        }
        bytes.appendFixed32(CRC32C.mask(CRC32C.checksum(bytes)))
        return bytes
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> SchemaCatalog {
        try bytes.withUnsafeBytes { raw in
            guard raw.count >= 20 else { throw StoreError.corruption("schema file too short", file: path, offset: 0) }
            let body = UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - 4)])
            let stored = raw.loadUnaligned(fromByteOffset: raw.count - 4, as: UInt32.self).littleEndian
            guard CRC32C.mask(CRC32C.checksum(body)) == stored else {
                throw StoreError.corruption("schema file checksum mismatch", file: path, offset: Int64(raw.count - 4))
            }
            guard Array(body[0..<8]) == magic else { throw StoreError.corruption("bad schema magic", file: path, offset: 0) }
            var cursor = ByteCursor(body, offset: 8)
            guard let version = cursor.readFixed32() else { throw StoreError.corruption("truncated schema", file: path, offset: 8) }
            guard version == SchemaCatalog.version else {
                throw StoreError(.unsupportedFormat, "schema version \(version) is not supported", file: path, offset: 8)
            }
            guard let count = cursor.readFixed32() else { throw StoreError.corruption("truncated schema", file: path, offset: 12) }
            var catalog = SchemaCatalog()
            var ids = Set<UInt32>()
            var totalPartitions = 0
            for _ in 0..<count {
                let at = Int64(cursor.offset)
                guard let id = cursor.readFixed32(), let partitions = cursor.readFixed32(), let kind = cursor.readByte(),
                      let name = cursor.readLengthPrefixed(), partitions >= 1
                else { throw StoreError.corruption("malformed schema entry", file: path, offset: at) }
                guard partitions <= 4096 else {
                    throw StoreError.corruption("schema entry declares \(partitions) partitions (at most 4096)", file: path, offset: at)
                }
                let text = String(decoding: name, as: UTF8.self)
                // A table's id is its name's (``tableId(for:)``): anything else, or a table
                // named twice, would give the catalog two states for one name or id.
                guard id == tableId(for: text) else {
                    throw StoreError.corruption("schema entry \"\(text)\" has id \(id), not its name's", file: path, offset: at)
                }
                guard ids.insert(id).inserted else {
                    throw StoreError.corruption("schema names \"\(text)\" twice", file: path, offset: at)
                }
                totalPartitions += Int(partitions)
                guard totalPartitions <= maxTotalPartitions else {
                    throw StoreError.corruption("schema declares more than \(maxTotalPartitions) partitions in all", file: path, offset: at)
                }
                catalog.entries.append(Entry(id: id, name: text, partitionCount: Int(partitions), kind: kind))
            }
            return catalog
        }
    }
}

/// The stable id of a table or index name (CRC32C of its UTF-8 bytes).
func tableId(for name: String) -> UInt32 {
    CRC32C.checksum(Array(name.utf8))
}
