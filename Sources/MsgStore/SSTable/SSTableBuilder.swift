#if canImport(Glibc)
import Glibc
#endif

/// Writes an SSTable (`NNNNNN.sst`). The file format (version ``FormatVersion/v1``;
/// prose in `docs/sstable-format.md`):
///
///     +-------------------------------------------+
///     | data block 0            ‖ trailer         |  entries (BlockBuilder layout),
///     | data block 1            ‖ trailer         |  each zstd-compressed unless
///     | ...                                       |  that does not shrink it
///     | dictionary block        ‖ trailer  (opt.) |  raw zstd dictionary bytes
///     | key bloom filter block  ‖ trailer  (opt.) |  BloomFilter layout
///     | prefix filter block     ‖ trailer  (opt.) |  BloomFilter layout
///     | properties block        ‖ trailer         |  name → value entries
///     | metaindex block         ‖ trailer         |  name → handle of the 4 above
///     | index block             ‖ trailer         |  last key of block i → handle i
///     | footer (56 bytes)                         |  see Footer
///     +-------------------------------------------+
///
///     trailer (9 bytes) = type: u8 (BlockCompression)
///                       ‖ raw size: u32 LE (decoded size; bounds decompression)
///                       ‖ masked CRC32C: u32 LE of payload ‖ type ‖ raw size
///     handle            = varint(payload offset) ‖ varint(payload size)
///
/// Blocks tile the file with no gaps, so every byte before the footer is
/// covered by a block checksum, and the footer by its own.
///
/// Usage: ``add(_:_:)`` internal keys in strictly increasing order, then
/// ``finish()`` (or ``abandon()``). After any thrown error the builder is
/// unusable: ``abandon()`` it and delete the file. Not thread-safe: one
/// builder per output file.
final class SSTableBuilder {
    private let file: any StorageFile
    private let options: SSTableOptions

    // Output: bytes not yet written start at file offset `bufferStart`.
    private var buffer: [UInt8] = []
    private var bufferStart: UInt64 = 0
    private var offset: UInt64 { bufferStart + UInt64(buffer.count) }

    private var dataBlock: BlockBuilder
    private var indexBlock = BlockBuilder(restartInterval: 1)
    private var lastKey: [UInt8] = []

    // Compression and the dictionary.
    private var compressor: ZstdCompressor?
    private enum DictionaryState { case off, collecting, trained }
    private var dictionaryState: DictionaryState
    private var dictionary: [UInt8] = []
    private var pendingBlocks: [(block: [UInt8], lastKey: [UInt8])] = []
    private var pendingBytes = 0
    private var samples: [UInt8] = []
    private var sampleSizes: [Int] = []

    // Filters.
    private var keyHashes: [UInt64] = []
    private var prefixHashes: [UInt64] = []
    private var lastPrefix: [UInt8] = []
    private var prefixFilterUsable: Bool

    private var properties = SSTableProperties()
    private var finished = false

    /// Creates a builder writing to `file` from offset 0 (the file should be
    /// empty). The caller keeps ownership of `file` and closes it after
    /// ``finish()`` (which syncs it) or ``abandon()``.
    init(file: any StorageFile, options: SSTableOptions = SSTableOptions()) {
        self.file = file
        self.options = options
        dataBlock = BlockBuilder(restartInterval: options.restartInterval)
        if let level = options.compressionLevel {
            compressor = ZstdCompressor(level: level)
            dictionaryState = options.dictionary == nil ? .off : .collecting
        } else {
            dictionaryState = .off
        }
        prefixFilterUsable = options.prefixBitsPerKey > 0
        buffer.reserveCapacity(options.writeBufferBytes + options.blockSizeBytes * 2)
    }

    /// Number of entries added.
    var entryCount: UInt64 { properties.entryCount }

    /// An estimate of the file size if finished now (for cutting compaction outputs).
    var estimatedFileSize: UInt64 { offset + UInt64(pendingBytes / 2 + dataBlock.estimatedSize / 2) }

    /// Adds an entry.
    /// REQUIRES: `key` is an internal key (at least 8 bytes) sorting strictly
    /// after every key added before; `finish()` has not been called.
    func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        precondition(!finished, "SSTableBuilder.add after finish")
        precondition(key.count >= InternalKey.trailerSize, "internal key shorter than its trailer")
        let userKey = InternalKey.userKey(key)
        var newUserKey = true
        if properties.entryCount > 0 {
            lastKey.withUnsafeBytes { last in
                precondition(InternalKey.compare(last, key) < 0, "SSTableBuilder keys must be strictly increasing")
                newUserKey = compareBytes(InternalKey.userKey(last), userKey) != 0
            }
        } else {
            properties.smallestKey = Array(key)
            properties.smallestSequence = InternalKey.sequence(key)
        }
        if newUserKey {
            if options.bloomBitsPerKey > 0 { keyHashes.append(BloomHash.hash(userKey)) }
            if prefixFilterUsable { notePrefix(of: userKey) }
        }
        let sequence = InternalKey.sequence(key)
        properties.smallestSequence = Swift.min(properties.smallestSequence, sequence)
        properties.largestSequence = Swift.max(properties.largestSequence, sequence)
        if InternalKey.kind(key) == .deletion { properties.deletionCount += 1 }
        properties.entryCount += 1
        properties.rawKeyBytes += UInt64(key.count)
        properties.rawValueBytes += UInt64(value.count)

        dataBlock.add(key, value)
        lastKey.removeAll(keepingCapacity: true)
        lastKey.append(contentsOf: key)
        if dictionaryState == .collecting, let trainingBytes = options.dictionary?.trainingBytes,
           samples.count < trainingBytes, value.count > 0 {
            samples.append(contentsOf: value)
            sampleSizes.append(value.count)
        }
        if dataBlock.estimatedSize >= options.blockSizeBytes { try finishDataBlock() }
    }

    /// Adds an entry from arrays.
    func add(key: [UInt8], value: [UInt8]) throws {
        try key.withUnsafeBytes { k in try value.withUnsafeBytes { v in try add(k, v) } }
    }

    private func notePrefix(of userKey: UnsafeRawBufferPointer) {
        guard let length = RowKeyCoding.prefixLength(userKey) else {
            prefixFilterUsable = false
            prefixHashes = []
            return
        }
        let prefix = UnsafeRawBufferPointer(rebasing: userKey[..<length])
        let same = lastPrefix.withUnsafeBytes { compareBytes($0, prefix) == 0 }
        if !same || prefixHashes.isEmpty {
            prefixHashes.append(BloomHash.hash(prefix))
            lastPrefix.removeAll(keepingCapacity: true)
            lastPrefix.append(contentsOf: prefix)
        }
    }

    private func finishDataBlock() throws {
        guard !dataBlock.isEmpty else { return }
        let block = dataBlock.finish()
        if dictionaryState == .collecting {
            pendingBlocks.append((block, lastKey))
            pendingBytes += block.count
            if pendingBytes >= options.dictionary!.trainingBytes { try trainDictionaryAndFlushPending() }
        } else {
            try writeDataBlock(block, lastKey: lastKey)
        }
    }

    /// Trains the dictionary from the sampled values, keeps it only if it
    /// makes the held blocks smaller *including its own size*, then writes them.
    private func trainDictionaryAndFlushPending() throws {
        dictionaryState = .trained
        if let compressor, let options = options.dictionary,
           let trained = ZstdDictionaryTrainer.train(samples: samples, sizes: sampleSizes, capacity: options.maxSizeBytes) {
            let candidate = ZstdCompressor(level: compressor.level)
            candidate.setDictionary(trained)
            var plain = 0
            var withDictionary = trained.count
            for (block, _) in pendingBlocks {
                plain += Self.storedSize(block, compressor)
                withDictionary += Self.storedSize(block, candidate)
            }
            if withDictionary < plain {
                self.compressor = candidate
                dictionary = trained
            }
        }
        samples = []
        sampleSizes = []
        let blocks = pendingBlocks
        pendingBlocks = []
        pendingBytes = 0
        for (block, key) in blocks { try writeDataBlock(block, lastKey: key) }
    }

    private static func storedSize(_ block: [UInt8], _ compressor: ZstdCompressor) -> Int {
        var size = block.count
        _ = block.withUnsafeBytes { raw in compressor.compress(raw) { size = $0.count } }
        return size
    }

    private func writeDataBlock(_ block: [UInt8], lastKey: [UInt8]) throws {
        let start = offset
        let handle = try writeBlock(block, compress: true)
        indexBlock.add(lastKey, handle.encoded)
        properties.dataBlockCount += 1
        properties.rawDataBytes += UInt64(block.count)
        properties.storedDataBytes += offset - start
    }

    /// Appends `block` and its trailer; returns its handle.
    private func writeBlock(_ block: [UInt8], compress: Bool) throws -> BlockHandle {
        precondition(block.count <= SSTableFormat.maxBlockRawSizeBytes, "block larger than the format allows")
        let start = offset
        var type = BlockCompression.none
        block.withUnsafeBytes { raw in
            if compress, let compressor {
                let compressed = compressor.compress(raw) { frame in buffer.append(contentsOf: frame) }
                if compressed { type = compressor.hasDictionary ? .zstdDictionary : .zstd }
            }
            if type == .none { buffer.append(contentsOf: raw) }
        }
        let payloadStart = Int(start - bufferStart)
        let payloadSize = buffer.count - payloadStart
        buffer.append(type.rawValue)
        buffer.appendFixed32(UInt32(block.count))
        let crc = buffer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[payloadStart...])) }
        buffer.appendFixed32(CRC32C.mask(crc))
        if buffer.count >= options.writeBufferBytes { try flushBuffer() }
        return BlockHandle(offset: start, size: UInt64(payloadSize))
    }

    private func flushBuffer() throws {
        guard !buffer.isEmpty else { return }
        try file.write(buffer, at: Int64(bufferStart))
        bufferStart += UInt64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes the remaining blocks, filters, properties, indexes and footer,
    /// then syncs the file. Returns what the manifest needs.
    func finish() throws -> SSTableMetadata {
        precondition(!finished, "SSTableBuilder.finish called twice")
        try finishDataBlock()
        if dictionaryState == .collecting { try trainDictionaryAndFlushPending() }
        finished = true
        properties.largestKey = lastKey
        if properties.entryCount == 0 { properties.smallestKey = [] }

        var meta: [(String, BlockHandle)] = []
        if !dictionary.isEmpty {
            meta.append((SSTableFormat.MetaName.dictionary, try writeBlock(dictionary, compress: false)))
            properties.dictionarySizeBytes = UInt64(dictionary.count)
        }
        if options.bloomBitsPerKey > 0 {
            let filter = BloomFilter.build(hashes: keyHashes, bitsPerKey: options.bloomBitsPerKey)
            meta.append((SSTableFormat.MetaName.bloomFilter, try writeBlock(filter, compress: false)))
            properties.bloomBitsPerKey = UInt64(options.bloomBitsPerKey)
            properties.bloomKeyCount = UInt64(keyHashes.count)
        }
        if prefixFilterUsable {
            let filter = BloomFilter.build(hashes: prefixHashes, bitsPerKey: options.prefixBitsPerKey)
            meta.append((SSTableFormat.MetaName.prefixFilter, try writeBlock(filter, compress: false)))
            properties.prefixBitsPerKey = UInt64(options.prefixBitsPerKey)
            properties.prefixKeyCount = UInt64(prefixHashes.count)
        }
        properties.compression = options.compressionLevel == nil ? "none" : "zstd"
        properties.compressionLevel = options.compressionLevel ?? 0
        properties.creationTimeMicros = options.creationTimeMicros ?? Self.nowMicros()
        meta.append((SSTableFormat.MetaName.properties, try writeBlock(properties.encode(), compress: false)))

        meta.sort { compareBytes(Array($0.0.utf8), Array($1.0.utf8)) < 0 }
        var metaindex = BlockBuilder(restartInterval: 1)
        for (name, handle) in meta { metaindex.add(Array(name.utf8), handle.encoded) }
        let metaindexHandle = try writeBlock(metaindex.finish(), compress: false)
        let indexHandle = try writeBlock(indexBlock.finish(), compress: false)
        buffer.append(contentsOf: Footer(metaindex: metaindexHandle, index: indexHandle, version: .latest).encode())
        let fileSize = offset
        try flushBuffer()
        try file.sync()
        return SSTableMetadata(
            fileSize: fileSize, smallestKey: properties.smallestKey, largestKey: properties.largestKey,
            entryCount: properties.entryCount, smallestSequence: properties.smallestSequence,
            largestSequence: properties.largestSequence, properties: properties)
    }

    /// Gives up on the file: nothing more is written (the caller deletes it).
    func abandon() {
        finished = true
        buffer = []
        pendingBlocks = []
    }

    private static func nowMicros() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000
    }
}
