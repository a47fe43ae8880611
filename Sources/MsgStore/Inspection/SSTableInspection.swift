/// What `msgstore inspect` shows about one SSTable, and what `msgstore verify`
/// checks: read-only, safe next to a running server (files are immutable).
///
/// Keys and values are raw bytes here; a ``KeyRenderer`` shows them
/// (``KeyRenderer/render(table:userKey:)``). Encodes to JSON with `JSONEncoder`.
public struct SSTableInspection: Sendable, Codable {
    /// One stored block.
    public struct BlockInfo: Sendable, Codable, Equatable {
        /// "data", "index", "metaindex", or the metaindex name of a meta block.
        public var kind: String
        /// Offset of the block's payload in the file.
        public var offset: UInt64
        /// Bytes of payload in the file (the 9-byte trailer excluded).
        public var storedSize: UInt64
        /// Decoded size in bytes.
        public var rawSize: UInt64
        /// "none", "zstd" or "zstd+dictionary".
        public var compression: String
        /// rawSize / storedSize.
        public var ratio: Double
        /// Entries in a data block (nil for other blocks).
        public var entryCount: Int?
    }

    /// One bloom filter.
    public struct FilterInfo: Sendable, Codable, Equatable {
        /// "key" (whole user keys) or "prefix".
        public var name: String
        /// Bits in the filter.
        public var bitCount: Int
        /// Distinct keys (or prefixes) added.
        public var keyCount: UInt64
        /// Probes per key.
        public var probeCount: Int
    }

    /// One entry of the file.
    public struct Entry: Sendable, Codable, Equatable {
        /// The user key.
        public var userKey: [UInt8]
        /// Its sequence number.
        public var sequence: UInt64
        /// "value" or "deletion".
        public var kind: String
        /// The value (empty for a deletion).
        public var value: [UInt8]
    }

    /// A problem found by ``verify(path:fileSystem:)``.
    public struct Problem: Sendable, Codable, Equatable, CustomStringConvertible {
        /// What is wrong.
        public var message: String
        /// The file.
        public var file: String
        /// The byte offset of the bad block or bytes, if known.
        public var offset: Int64?
        /// A one-line description.
        public var description: String { "\(file)" + (offset.map { " @\($0)" } ?? "") + ": \(message)" }
    }

    /// The inspected file.
    public var path: String
    /// Its size in bytes.
    public var fileSize: UInt64
    /// The format version it was written with.
    public var formatVersion: UInt32
    /// The properties block.
    public var properties: SSTableProperties
    /// Every block, in file order (the footer excluded).
    public var blocks: [BlockInfo]
    /// The bloom filters.
    public var filters: [FilterInfo]
    /// All entries, when asked for.
    public var entries: [Entry]?

    /// Reads the SSTable at `path` (read-only).
    /// - Parameters:
    ///   - path: the SSTable (`NNNNNN.sst`).
    ///   - fileSystem: where the file lives.
    ///   - includeEntries: also decode every entry (O(file size) memory).
    public static func inspect(path: String, fileSystem: any FileSystem = PosixFileSystem(), includeEntries: Bool = false) throws -> SSTableInspection {
        let table = try SSTableReader.open(fileSystem: fileSystem, path: path, fileNumber: 0, cache: nil)
        defer { try? table.close() }
        var blocks: [BlockInfo] = []
        var entries: [Entry] = []
        var indexCursor = BlockCursor(block: table.indexBlock, keyBuffer: ScratchBuffer(), internalKeys: true)
        try indexCursor.seekToFirst()
        while indexCursor.isValid {
            let handle = try table.decodeHandle(indexCursor.value)
            let stored = try table.storedInfo(handle)
            let block = try table.readDataBlockUncached(handle)
            var cursor = BlockCursor(block: block, keyBuffer: ScratchBuffer(), internalKeys: true)
            var count = 0
            try cursor.seekToFirst()
            while cursor.isValid {
                count += 1
                if includeEntries {
                    let kind = InternalKey.kind(cursor.key)
                    entries.append(Entry(
                        userKey: Array(InternalKey.userKey(cursor.key)), sequence: InternalKey.sequence(cursor.key),
                        kind: kind == .deletion ? "deletion" : (kind == .value ? "value" : "unknown"),
                        value: Array(cursor.value)))
                }
                try cursor.next()
            }
            blocks.append(info(kind: "data", handle: handle, stored: stored, entryCount: count))
            try indexCursor.next()
        }
        for (name, handle) in table.metaHandles {
            blocks.append(info(kind: name, handle: handle, stored: try table.storedInfo(handle), entryCount: nil))
        }
        blocks.append(info(kind: "metaindex", handle: table.footer.metaindex, stored: try table.storedInfo(table.footer.metaindex), entryCount: nil))
        blocks.append(info(kind: "index", handle: table.footer.index, stored: try table.storedInfo(table.footer.index), entryCount: nil))
        blocks.sort { $0.offset < $1.offset }
        var filters: [FilterInfo] = []
        if let filter = table.keyFilter {
            filters.append(FilterInfo(name: "key", bitCount: filter.bitCount, keyCount: table.properties.bloomKeyCount, probeCount: filter.probeCount))
        }
        if let filter = table.prefixBloomFilter {
            filters.append(FilterInfo(name: "prefix", bitCount: filter.bitCount, keyCount: table.properties.prefixKeyCount, probeCount: filter.probeCount))
        }
        return SSTableInspection(
            path: path, fileSize: table.fileSize, formatVersion: table.formatVersion.rawValue,
            properties: table.properties, blocks: blocks, filters: filters, entries: includeEntries ? entries : nil)
    }

    private static func info(kind: String, handle: BlockHandle, stored: BlockReading.Stored, entryCount: Int?) -> BlockInfo {
        let compression: String
        switch stored.compression {
        case .none: compression = "none"
        case .zstd: compression = "zstd"
        case .zstdDictionary: compression = "zstd+dictionary"
        }
        return BlockInfo(
            kind: kind, offset: handle.offset, storedSize: handle.size, rawSize: UInt64(stored.rawSize),
            compression: compression, ratio: handle.size == 0 ? 1 : Double(stored.rawSize) / Double(handle.size),
            entryCount: entryCount)
    }

    /// Checks every block checksum, that blocks tile the file, that keys are
    /// strictly increasing and match the index, that the filters hold every
    /// key, and that the properties agree with the entries.
    /// - Returns: the problems found, each with file and offset; empty when the file is sound.
    public static func verify(path: String, fileSystem: any FileSystem = PosixFileSystem()) -> [Problem] {
        var problems: [Problem] = []
        func note(_ message: String, _ offset: Int64?) { problems.append(Problem(message: message, file: path, offset: offset)) }
        func note(_ error: Error, _ fallbackOffset: Int64?) {
            if let error = error as? StoreError {
                note(error.message, error.offset ?? fallbackOffset)
            } else {
                note("\(error)", fallbackOffset)
            }
        }
        let table: SSTableReader
        do {
            table = try SSTableReader.open(fileSystem: fileSystem, path: path, fileNumber: 0, cache: nil)
        } catch {
            note(error, nil)
            return problems
        }
        defer { try? table.close() }

        var expectedOffset: UInt64 = 0
        var previousKey: [UInt8] = []
        var entryCount: UInt64 = 0
        var dataBlocks: UInt64 = 0
        var smallest: [UInt8] = []
        var indexCursor = BlockCursor(block: table.indexBlock, keyBuffer: ScratchBuffer(), internalKeys: true)
        do {
            try indexCursor.seekToFirst()
            while indexCursor.isValid {
                let handle = try table.decodeHandle(indexCursor.value)
                dataBlocks += 1
                if handle.offset != expectedOffset {
                    note("data block at \(handle.offset) does not follow the previous block (expected \(expectedOffset))", Int64(handle.offset))
                }
                expectedOffset = handle.endOffset ?? expectedOffset
                do {
                    let block = try table.readDataBlockUncached(handle)
                    var cursor = BlockCursor(block: block, keyBuffer: ScratchBuffer(), internalKeys: true)
                    try cursor.seekToFirst()
                    if !cursor.isValid { note("empty data block", Int64(handle.offset)) }
                    while cursor.isValid {
                        let key = cursor.key
                        if entryCount == 0 { smallest = Array(key) }
                        entryCount += 1
                        if !previousKey.isEmpty, previousKey.withUnsafeBytes({ InternalKey.compare($0, key) }) >= 0 {
                            note("keys out of order", Int64(handle.offset))
                        }
                        if InternalKey.kind(key) == nil { note("entry of unknown kind", Int64(handle.offset)) }
                        let userKey = InternalKey.userKey(key)
                        if !table.mayContain(userKey: userKey) { note("key bloom filter misses a key", Int64(handle.offset)) }
                        if table.hasPrefixFilter {
                            if let length = RowKeyCoding.prefixLength(userKey) {
                                if !table.mayContainPrefix(UnsafeRawBufferPointer(rebasing: userKey[..<length])) {
                                    note("prefix filter misses a prefix", Int64(handle.offset))
                                }
                            } else {
                                note("key without a prefix in a file with a prefix filter", Int64(handle.offset))
                            }
                        }
                        previousKey.removeAll(keepingCapacity: true)
                        previousKey.append(contentsOf: key)
                        try cursor.next()
                    }
                    if compareBytes(previousKey.withUnsafeBytes { Array($0) }, Array(indexCursor.key)) != 0 {
                        note("index key differs from the block's last key", Int64(handle.offset))
                    }
                } catch {
                    note(error, Int64(handle.offset))
                }
                try indexCursor.next()
            }
        } catch {
            note(error, Int64(table.footer.index.offset))
        }
        var others = Array(table.metaHandles.values) + [table.footer.metaindex, table.footer.index]
        others.sort { $0.offset < $1.offset }
        for handle in others {
            if handle.offset != expectedOffset {
                note("block at \(handle.offset) does not follow the previous block (expected \(expectedOffset))", Int64(handle.offset))
            }
            expectedOffset = handle.endOffset ?? expectedOffset
        }
        if expectedOffset != table.fileSize - UInt64(SSTableFormat.footerSize) {
            note("blocks end at \(expectedOffset), the footer starts at \(table.fileSize - UInt64(SSTableFormat.footerSize))", Int64(expectedOffset))
        }
        let properties = table.properties
        if properties.entryCount != entryCount { note("properties count \(properties.entryCount) entries, the blocks hold \(entryCount)", nil) }
        if properties.dataBlockCount != dataBlocks { note("properties count \(properties.dataBlockCount) data blocks, the index \(dataBlocks)", nil) }
        if entryCount > 0 && (properties.smallestKey != smallest || properties.largestKey != previousKey) {
            note("properties key range differs from the entries", nil)
        }
        return problems
    }
}
