/// Entry points into the SSTable layer's hot paths for the micro benchmarks
/// of `Benchmarks/` (package-benchmark builds in release mode, where
/// `@testable import` is not available). Not API: `@_spi(Benchmarks)`, so a
/// program sees it only with `@_spi(Benchmarks) import MsgStore`.
///
/// Rows are given as (user key, value) where the user key is a row key
/// (partition key, sort key) encoded as the engine stores it.
@_spi(Benchmarks)
public enum SSTableBenchmarkProbes {
    /// The encoded user key of a row.
    public static func userKey(partitionKey: [UInt8], sortKey: [UInt8]) -> [UInt8] {
        RowKeyCoding.encode(RowKey(partitionKey: partitionKey, sortKey: sortKey))
    }

    /// The internal key (user key, sequence, value kind) entries are stored under.
    public static func internalKey(userKey: [UInt8], sequence: UInt64) -> [UInt8] {
        InternalKey.make(userKey: userKey, sequence: sequence, kind: .value)
    }

    // MARK: Blocks

    /// Encodes `entries` (internal keys, ascending) into one data block, as
    /// the SSTable writer does (prefix-compressed keys, a restart every 16).
    public static func encodeBlock(_ entries: [(key: [UInt8], value: [UInt8])]) -> [UInt8] {
        var builder = BlockBuilder(restartInterval: SSTableOptions().restartInterval)
        for entry in entries { builder.add(entry.key, entry.value) }
        return builder.finish()
    }

    /// A decoded block, ready to be read by ``scan(_:)`` and ``seek(_:to:)``.
    public final class DecodedBlock: @unchecked Sendable {
        let block: Block
        let keyBuffer = ScratchBuffer()

        /// Checks and wraps the bytes of an encoded block.
        public init(_ bytes: [UInt8]) throws {
            block = try Block.make(copying: bytes, file: "benchmark", fileOffset: 0)
        }
    }

    /// Reads every entry of `block` in order; returns the value bytes seen.
    public static func scan(_ block: DecodedBlock) throws -> Int {
        var cursor = BlockCursor(block: block.block, keyBuffer: block.keyBuffer, internalKeys: true)
        var bytes = 0
        try cursor.seekToFirst()
        while cursor.isValid {
            bytes &+= cursor.value.count
            try cursor.next()
        }
        return bytes
    }

    /// Seeks `block` to the first entry at or after `key` (binary search over
    /// the restarts, then a linear scan); returns whether one exists.
    public static func seek(_ block: DecodedBlock, to key: [UInt8]) throws -> Bool {
        var cursor = BlockCursor(block: block.block, keyBuffer: block.keyBuffer, internalKeys: true)
        try key.withUnsafeBytes { try cursor.seek(toFirstAtOrAfter: $0) }
        return cursor.isValid
    }

    // MARK: Bloom filters

    /// A bloom filter as SSTables store them (cache-line blocked, `bitsPerKey` bits a key).
    public struct Bloom: Sendable {
        let filter: BloomFilter

        /// Builds the filter of `keys`.
        public init(keys: [[UInt8]], bitsPerKey: Int = 10) {
            let stored = BloomFilter.build(hashes: keys.map { BloomHash.hash($0) }, bitsPerKey: bitsPerKey)
            filter = stored.withUnsafeBytes { BloomFilter(stored: $0)! }
        }

        /// Hashes `key` and probes the filter (false: certainly absent).
        public func mayContain(_ key: [UInt8]) -> Bool {
            key.withUnsafeBytes { filter.mayContain($0) }
        }
    }

    // MARK: zstd

    /// A block compressor at zstd `level`, with an optional dictionary
    /// trained on `training` (as compaction outputs train one).
    public final class Zstd: @unchecked Sendable {
        let compressor: ZstdCompressor
        let decompressionDictionary: ZstdDecompressionDictionary?
        /// The trained dictionary's size in bytes (0 without one).
        public let dictionaryBytes: Int

        /// Creates the compressor; `training` samples train a dictionary of at most `dictionaryCapacity` bytes.
        public init(level: Int32 = 3, training: [[UInt8]]? = nil, dictionaryCapacity: Int = 32 << 10) {
            compressor = ZstdCompressor(level: level)
            if let training, let dictionary = ZstdDictionaryTrainer.train(
                samples: training.flatMap { $0 }, sizes: training.map(\.count), capacity: dictionaryCapacity) {
                compressor.setDictionary(dictionary)
                decompressionDictionary = dictionary.withUnsafeBytes { ZstdDecompressionDictionary($0) }
                dictionaryBytes = dictionary.count
            } else {
                decompressionDictionary = nil
                dictionaryBytes = 0
            }
        }

        /// Compresses `input`; nil when zstd would not make it smaller.
        public func compress(_ input: [UInt8]) -> [UInt8]? {
            var result: [UInt8]?
            let compressed = input.withUnsafeBytes { raw in compressor.compress(raw) { result = Array($0) } }
            return compressed ? result : nil
        }

        /// Decompresses a frame of ``compress(_:)`` into `rawCount` bytes; false on failure.
        public func decompress(_ frame: [UInt8], rawCount: Int, into output: inout [UInt8]) -> Bool {
            if output.count < rawCount { output = [UInt8](repeating: 0, count: rawCount) }
            return frame.withUnsafeBytes { source in
                output.withUnsafeMutableBytes { destination in
                    ZstdDecompressor.shared.decompress(
                        source, into: UnsafeMutableRawBufferPointer(rebasing: destination[..<rawCount]),
                        dictionary: decompressionDictionary)
                }
            }
        }
    }

    // MARK: Whole files

    /// How an SSTable is written: zstd level (nil: no compression), the
    /// per-file dictionary (nil: none) and the block size.
    public struct FileOptions: Sendable {
        /// zstd level, nil for none.
        public var compressionLevel: Int32?
        /// Dictionary capacity and training bytes, nil for no dictionary.
        public var dictionary: (maxSizeBytes: Int, trainingBytes: Int)?
        /// Target size of a data block before compression.
        public var blockSizeBytes: Int

        /// Creates options (the defaults: zstd 3, no dictionary, 4 KiB blocks).
        public init(compressionLevel: Int32? = 3, dictionary: (maxSizeBytes: Int, trainingBytes: Int)? = nil, blockSizeBytes: Int = 4096) {
            self.compressionLevel = compressionLevel
            self.dictionary = dictionary
            self.blockSizeBytes = blockSizeBytes
        }
    }

    /// What writing an SSTable produced.
    public struct WrittenFile: Sendable {
        /// The file's size in bytes.
        public var fileBytes: UInt64
        /// Data block bytes before compression.
        public var rawDataBytes: UInt64
        /// Data block bytes as stored.
        public var storedDataBytes: UInt64
        /// The dictionary's size in bytes (0 without one).
        public var dictionaryBytes: UInt64
    }

    /// Writes `entries` (internal keys, ascending) to a new SSTable at `path`.
    public static func writeFile(at path: String, entries: [(key: [UInt8], value: [UInt8])], options: FileOptions = FileOptions()) throws -> WrittenFile {
        var sstableOptions = SSTableOptions()
        sstableOptions.compressionLevel = options.compressionLevel
        sstableOptions.dictionary = options.dictionary.map {
            SSTableOptions.DictionaryOptions(maxSizeBytes: $0.maxSizeBytes, trainingBytes: $0.trainingBytes)
        }
        sstableOptions.blockSizeBytes = options.blockSizeBytes
        let file = try PosixFileSystem().open(path, mode: .createTruncate)
        let builder = SSTableBuilder(file: file, options: sstableOptions)
        for entry in entries { try builder.add(key: entry.key, value: entry.value) }
        let metadata = try builder.finish()
        try file.close()
        return WrittenFile(fileBytes: metadata.fileSize, rawDataBytes: metadata.properties.rawDataBytes,
                           storedDataBytes: metadata.properties.storedDataBytes,
                           dictionaryBytes: metadata.properties.dictionarySizeBytes)
    }

    /// An open SSTable with its own block cache.
    public final class OpenFile: @unchecked Sendable {
        let table: SSTableReader
        let iterator: SSTableIterator

        /// Opens the SSTable at `path` with a block cache of `cacheBytes` (0: no cache).
        public init(path: String, cacheBytes: Int) throws {
            table = try SSTableReader.open(fileSystem: PosixFileSystem(), path: path, fileNumber: 1,
                                           cache: cacheBytes > 0 ? BlockCache(capacityBytes: cacheBytes) : nil)
            iterator = table.makeIterator()
        }

        deinit { try? table.close() }

        /// A point lookup of a user key at the newest snapshot; returns whether a value was found.
        public func get(_ userKey: [UInt8]) throws -> Bool {
            if case .found = try table.get(userKey, snapshotSequence: InternalKey.maxSequence) { return true }
            return false
        }

        /// A page read: seeks to `start` (an internal key) and reads up to
        /// `limit` entries whose first `prefixLength` bytes equal `start`'s
        /// (one partition key); returns the entries read.
        public func page(from start: [UInt8], prefixLength: Int, limit: Int) throws -> Int {
            try start.withUnsafeBytes { key in
                try iterator.seek(toFirstAtOrAfter: key)
                var count = 0
                let prefix = UnsafeRawBufferPointer(rebasing: key[..<prefixLength])
                while iterator.isValid && count < limit {
                    let current = iterator.key
                    guard current.count >= prefixLength,
                          compareBytes(UnsafeRawBufferPointer(rebasing: current[..<prefixLength]), prefix) == 0 else { break }
                    count += 1
                    try iterator.next()
                }
                return count
            }
        }

        /// Reads every entry in order; returns how many.
        public func scanAll() throws -> Int {
            try iterator.seekToFirst()
            var count = 0
            while iterator.isValid {
                count += 1
                try iterator.next()
            }
            return count
        }
    }

    // MARK: Descriptors

    /// Positional reads of files through descriptors held open (as SSTables
    /// read before the table cache) and through the table cache
    /// (``TableFileCache``) with a cap of `maxOpen`: what the cache adds to
    /// a read while the cap is not reached (its fast path: a pin and an
    /// unpin), and what a read costs when the cap makes it open the file again.
    public final class DescriptorReads: @unchecked Sendable {
        let direct: [any StorageFile]
        let slots: [TableFile]
        let cache: TableFileCache

        /// Opens every file of `paths` both ways.
        public init(paths: [String], maxOpen: Int) throws {
            let fileSystem = PosixFileSystem()
            direct = try paths.map { try fileSystem.open($0, mode: .read) }
            let cache = TableFileCache(capacity: maxOpen)
            self.cache = cache
            slots = try paths.map { cache.adopt(try fileSystem.open($0, mode: .read), path: $0, fileSystem: fileSystem) }
        }

        /// `count` in-memory files of `bytes` bytes each, both ways: no system
        /// call, so the difference between the two ways is the cache's own cost.
        public init(memoryFiles count: Int, bytes: Int, maxOpen: Int) {
            let fileSystem = MemoryFiles(bytes: bytes)
            direct = (0..<count).map { MemoryFiles.File(path: "m\($0)", bytes: bytes) }
            let cache = TableFileCache(capacity: maxOpen)
            self.cache = cache
            slots = (0..<count).map { cache.adopt(MemoryFiles.File(path: "m\($0)", bytes: bytes), path: "m\($0)", fileSystem: fileSystem) }
        }

        deinit {
            for file in direct { try? file.close() }
            for slot in slots { try? slot.close() }
        }

        /// Reads into `buffer` at `offset` of file `index` with its held descriptor.
        public func readDirect(_ index: Int, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
            try direct[index].read(into: buffer, at: offset)
        }

        /// Reads into `buffer` at `offset` of file `index` through the table cache.
        public func readThroughCache(_ index: Int, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
            try slots[index].read(into: buffer, at: offset)
        }

        /// Descriptors the cache opened again, and closed, so far.
        public var reopensAndEvictions: (reopens: UInt64, evictions: UInt64) {
            let statistics = cache.statistics
            return (statistics.reopens, statistics.evictions)
        }
    }
}

/// Files of zeros in memory, for ``SSTableBenchmarkProbes/DescriptorReads``.
private struct MemoryFiles: FileSystem {
    let bytes: Int
    final class File: StorageFile {
        let path: String
        let storage: [UInt8]
        init(path: String, bytes: Int) {
            self.path = path
            storage = [UInt8](repeating: 0, count: bytes)
        }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
            let start = Swift.min(Int(offset), storage.count)
            let count = Swift.min(buffer.count, storage.count - start)
            storage.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + start, byteCount: count) }
            return count
        }
        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws { throw StoreError(.invalidArgument, "read only") }
        func sync() throws {}
        func size() throws -> Int64 { Int64(storage.count) }
        func truncate(to size: Int64) throws { throw StoreError(.invalidArgument, "read only") }
        func close() throws {}
    }
    func open(_ path: String, mode: OpenMode) throws -> any StorageFile { File(path: path, bytes: bytes) }
    func exists(_ path: String) -> Bool { true }
    func rename(_ source: String, to destination: String) throws {}
    func remove(_ path: String) throws {}
    func createDirectory(_ path: String) throws {}
    func syncDirectory(_ path: String) throws {}
    func contentsOfDirectory(_ path: String) throws -> [String] { [] }
    func fileSize(_ path: String) throws -> Int64 { Int64(bytes) }
    func lock(_ path: String) throws -> any FileLock { throw StoreError(.invalidArgument, "no locks") }
}
