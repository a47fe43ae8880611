/// An open SSTable: footer, indexes, filters, properties and dictionary in
/// memory; data blocks read on demand through the ``BlockCache``, from a
/// descriptor the ``TableFileCache`` opens on demand (and closes when more
/// than its cap are open).
///
/// Immutable after ``open(fileSystem:path:fileNumber:cache:tableFiles:)``,
/// so one reader serves any number of threads at once. Every decoding
/// problem surfaces as ``StoreError/Code/corruption`` naming the file and offset.
final class SSTableReader: Sendable {
    /// The file's path.
    let path: String
    /// The file number (the block cache's key).
    let fileNumber: UInt64
    /// Size of the file in bytes.
    let fileSize: UInt64
    /// The version it was written with.
    let formatVersion: FormatVersion
    /// The properties block.
    let properties: SSTableProperties

    /// The descriptor data blocks are read from (opened on demand).
    let file: TableFile
    /// Where the footer starts: no block reaches past it.
    private let dataEnd: UInt64
    private let index: Block
    private let bloom: BloomFilter?
    private let prefixFilter: BloomFilter?
    private let dictionary: ZstdDecompressionDictionary?
    private let cache: BlockCache?
    /// The handles of the metaindex (for inspection).
    let metaHandles: [String: BlockHandle]
    /// The footer.
    let footer: Footer

    /// Bytes this open table holds in memory for its whole life: the index
    /// block, the bloom and prefix filters, the compression dictionary.
    var residentBytes: Int {
        index.bytes.count + (bloom?.byteCount ?? 0) + (prefixFilter?.byteCount ?? 0) + (dictionary?.size ?? 0)
    }

    /// Opens the SSTable at `path`, reading and checking its footer, metaindex,
    /// properties, filters, dictionary and index.
    ///
    /// - Parameter tableFiles: the descriptor cache its data block reads go
    ///   through; nil: one of its own, without a cap (a reader opened alone,
    ///   by inspection or tests, keeps its descriptor until ``close()``).
    static func open(
        fileSystem: any FileSystem, path: String, fileNumber: UInt64, cache: BlockCache?, tableFiles: TableFileCache? = nil
    ) throws -> SSTableReader {
        tableFiles?.makeRoom()
        let file = try fileSystem.open(path, mode: .read)
        do {
            return try SSTableReader(file: file, fileSystem: fileSystem, path: path, fileNumber: fileNumber, cache: cache,
                                     tableFiles: tableFiles ?? TableFileCache(capacity: .max))
        } catch {
            try? file.close()
            throw error
        }
    }

    /// Opens an SSTable on an already open file, which `tableFiles` owns
    /// once the init succeeds (the caller closes it if the init throws).
    private init(file: any StorageFile, fileSystem: any FileSystem, path: String, fileNumber: UInt64, cache: BlockCache?,
                 tableFiles: TableFileCache) throws {
        self.path = path
        self.fileNumber = fileNumber
        self.cache = cache
        let source = OpenFileSource(file: file)
        let size = try file.size()
        guard size >= Int64(SSTableFormat.footerSize) else {
            throw StoreError.corruption("file too small for an SSTable (\(size) bytes)", file: path, offset: 0)
        }
        fileSize = UInt64(size)
        let dataEnd = UInt64(size) - UInt64(SSTableFormat.footerSize)
        self.dataEnd = dataEnd
        let footerBytes = try file.read(count: SSTableFormat.footerSize, at: Int64(dataEnd))
        let footer = try footerBytes.withUnsafeBytes { try Footer.decode($0, file: path, offset: Int64(dataEnd)) }
        self.footer = footer
        formatVersion = footer.version

        let metaindex = try BlockReading.readBlock(file: source, path: path, handle: footer.metaindex, dataEnd: dataEnd, dictionary: nil)
        var handles: [String: BlockHandle] = [:]
        var cursor = BlockCursor(block: metaindex, keyBuffer: ScratchBuffer(), internalKeys: false)
        try cursor.seekToFirst()
        while cursor.isValid {
            guard let handle = BlockHandle.decode(cursor.value) else {
                throw StoreError.corruption("metaindex entry has a malformed handle", file: path, offset: Int64(footer.metaindex.offset))
            }
            handles[String(decoding: cursor.key, as: UTF8.self)] = handle
            try cursor.next()
        }
        metaHandles = handles

        guard let propertiesHandle = handles[SSTableFormat.MetaName.properties] else {
            throw StoreError.corruption("SSTable has no properties block", file: path, offset: Int64(footer.metaindex.offset))
        }
        properties = try SSTableProperties.decode(
            try BlockReading.readBlock(file: source, path: path, handle: propertiesHandle, dataEnd: dataEnd, dictionary: nil))

        if let handle = handles[SSTableFormat.MetaName.dictionary] {
            guard handle.size <= UInt64(SSTableFormat.maxDictionarySizeBytes) else {
                throw StoreError.corruption("dictionary larger than the limit", file: path, offset: Int64(handle.offset))
            }
            let bytes = try BlockReading.readBytes(file: source, path: path, handle: handle, dataEnd: dataEnd)
            guard let dictionary = bytes.withUnsafeBytes({ ZstdDecompressionDictionary($0) }) else {
                throw StoreError.corruption("zstd rejects the file's dictionary", file: path, offset: Int64(handle.offset))
            }
            self.dictionary = dictionary
        } else {
            dictionary = nil
        }
        bloom = try Self.readFilter(handles[SSTableFormat.MetaName.bloomFilter], source: source, path: path, dataEnd: dataEnd)
        prefixFilter = try Self.readFilter(handles[SSTableFormat.MetaName.prefixFilter], source: source, path: path, dataEnd: dataEnd)
        index = try BlockReading.readBlock(file: source, path: path, handle: footer.index, dataEnd: dataEnd, dictionary: nil)
        // Last, when nothing can throw: a file that fails to open never takes a place in the cache.
        self.file = tableFiles.adopt(file, path: path, fileSystem: fileSystem)
    }

    private static func readFilter(_ handle: BlockHandle?, source: OpenFileSource, path: String, dataEnd: UInt64) throws -> BloomFilter? {
        guard let handle else { return nil }
        let bytes = try BlockReading.readBytes(file: source, path: path, handle: handle, dataEnd: dataEnd)
        guard let filter = bytes.withUnsafeBytes({ BloomFilter(stored: $0) }) else {
            throw StoreError.corruption("filter block too short", file: path, offset: Int64(handle.offset))
        }
        return filter
    }

    /// Closes the descriptor (after reads in flight). Later reads of data
    /// blocks throw ``StoreError/Code/closed``. Idempotent.
    func close() throws { try file.close() }

    deinit { try? file.close() }

    // MARK: Filters

    /// Whether the file may hold `userKey` (false: certainly not).
    func mayContain(userKey: UnsafeRawBufferPointer) -> Bool {
        bloom?.mayContain(userKey) ?? true
    }

    /// Whether the file may hold a user key whose ``RowKeyCoding`` prefix is
    /// `prefix` (false: certainly not — a seek within one partition key can skip the file).
    func mayContainPrefix(_ prefix: UnsafeRawBufferPointer) -> Bool {
        prefixFilter?.mayContain(prefix) ?? true
    }

    /// Whether the file has a prefix filter.
    var hasPrefixFilter: Bool { prefixFilter != nil }

    // MARK: Point lookup

    /// What ``get(_:snapshotSequence:)`` finds.
    enum GetResult: Equatable, Sendable {
        /// The newest visible version is a value.
        case found(value: [UInt8], sequence: UInt64)
        /// The newest visible version is a tombstone.
        case deleted(sequence: UInt64)
        /// The file holds no version of the key visible at the snapshot.
        case notPresent
    }

    /// The newest version of `userKey` with sequence ≤ `snapshotSequence`.
    /// Consults the bloom filter first.
    /// - Complexity: one index binary search and one block binary search;
    ///   at most one block read (none on a cache hit or a filter miss).
    func get(_ userKey: UnsafeRawBufferPointer, snapshotSequence: UInt64) throws -> GetResult {
        if let bloom, !bloom.mayContain(userKey) { return .notPresent }
        // The lookup key userKey ‖ trailer(snapshot, value) sorts before every
        // version with sequence ≤ snapshot: build it on the stack.
        let trailer = InternalKey.trailer(sequence: Swift.min(snapshotSequence, InternalKey.maxSequence), kind: .value)
        return try withUnsafeTemporaryAllocation(byteCount: userKey.count + InternalKey.trailerSize, alignment: 8) { storage in
            if let base = userKey.baseAddress, userKey.count > 0 { storage.baseAddress!.copyMemory(from: base, byteCount: userKey.count) }
            storage.storeBytes(of: trailer.littleEndian, toByteOffset: userKey.count, as: UInt64.self)
            let target = UnsafeRawBufferPointer(storage)
            let scratch = ScratchBuffer()
            var indexCursor = BlockCursor(block: index, keyBuffer: scratch, internalKeys: true)
            try indexCursor.seek(toFirstAtOrAfter: target)
            guard indexCursor.isValid else { return .notPresent }
            let handle = try decodeHandle(indexCursor.value)
            var cursor = BlockCursor(block: try dataBlock(handle), keyBuffer: scratch, internalKeys: true)
            try cursor.seek(toFirstAtOrAfter: target)
            guard cursor.isValid, compareBytes(InternalKey.userKey(cursor.key), userKey) == 0 else { return .notPresent }
            let sequence = InternalKey.sequence(cursor.key)
            switch InternalKey.kind(cursor.key) {
            case .value: return .found(value: Array(cursor.value), sequence: sequence)
            case .deletion: return .deleted(sequence: sequence)
            case nil: throw StoreError.corruption("entry has an unknown kind", file: path, offset: Int64(handle.offset))
            }
        }
    }

    /// Looks up an array key.
    func get(_ userKey: [UInt8], snapshotSequence: UInt64) throws -> GetResult {
        try userKey.withUnsafeBytes { try get($0, snapshotSequence: snapshotSequence) }
    }

    // MARK: Blocks

    /// An iterator over the whole file (positioned nowhere: seek first).
    ///
    /// - Parameter fillsCache: whether blocks read by the iterator go into the
    ///   block cache. Compaction passes false, so that one pass over old files
    ///   does not evict the blocks reads need (RocksDB's `fill_cache = false`).
    func makeIterator(fillsCache: Bool = true) -> SSTableIterator { SSTableIterator(table: self, fillsCache: fillsCache) }

    /// The index block (kept in memory).
    var indexBlock: Block { index }

    /// Decodes an index entry's value.
    func decodeHandle(_ bytes: UnsafeRawBufferPointer) throws -> BlockHandle {
        guard let handle = BlockHandle.decode(bytes) else {
            throw StoreError.corruption("index entry has a malformed block handle", file: path, offset: Int64(footer.index.offset))
        }
        return handle
    }

    /// The data block at `handle`, from the cache or read, checked, decoded and
    /// (if `fillsCache`) cached.
    func dataBlock(_ handle: BlockHandle, fillsCache: Bool = true) throws -> Block {
        let key = BlockCache.Key(fileNumber: fileNumber, offset: handle.offset)
        if let cache, let block = cache.lookup(key) { return block }
        if MemoryOnlyReads.areActive {
            throw StoreError(.wouldBlock, "block at \(handle.offset) is not in memory", file: path, offset: Int64(clamping: handle.offset))
        }
        let block = try BlockReading.readBlock(file: file, path: path, handle: handle, dataEnd: dataEnd, dictionary: dictionary)
        if fillsCache { cache?.insert(key, block) }
        return block
    }

    /// Reads a data block bypassing the cache (verification, inspection).
    func readDataBlockUncached(_ handle: BlockHandle) throws -> Block {
        try BlockReading.readBlock(file: file, path: path, handle: handle, dataEnd: dataEnd, dictionary: dictionary)
    }

    /// Reads the trailer facts of a block (inspection).
    func storedInfo(_ handle: BlockHandle) throws -> BlockReading.Stored {
        try BlockReading.withBlock(file: file, path: path, handle: handle, dataEnd: dataEnd, dictionary: dictionary) { _, _, info, _ in info }
    }

    /// The key bloom filter, if any (inspection).
    var keyFilter: BloomFilter? { bloom }
    /// The prefix filter, if any (inspection).
    var prefixBloomFilter: BloomFilter? { prefixFilter }
}
