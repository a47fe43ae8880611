/// Reads one stored block (payload ‖ trailer, see ``SSTableBuilder``): checks
/// its bounds and CRC32C, then decompresses it with every size capped by
/// the raw size its trailer records (itself capped by
/// ``SSTableFormat/maxBlockRawSizeBytes``).
///
/// Blocks are read from a ``BlockSource``: an SSTable's ``TableFile`` (the
/// descriptor cache), or a ``StorageFile`` opened by the caller.
enum BlockReading {
    /// What the trailer of a block says.
    struct Stored: Sendable {
        /// How the payload is stored.
        var compression: BlockCompression
        /// Decoded size in bytes.
        var rawSize: Int
    }

    /// Reads the block at `handle` and passes its decoded bytes to `body`:
    /// the allocation, the count of decoded bytes at its start, the trailer's
    /// facts, and a flag `body` sets to take ownership of the allocation
    /// (otherwise it is freed when `body` returns).
    /// - Parameter dataEnd: the offset where the footer starts; no block may reach past it.
    static func withBlock<Source: BlockSource, R>(
        file: Source, path: String, handle: BlockHandle, dataEnd: UInt64,
        dictionary: ZstdDecompressionDictionary?,
        _ body: (UnsafeMutableRawBufferPointer, Int, Stored, inout Bool) throws -> R
    ) throws -> R {
        let offset = Int64(clamping: handle.offset)
        guard let end = handle.endOffset, end <= dataEnd else {
            throw StoreError.corruption("block handle (offset \(handle.offset), size \(handle.size)) points past the data", file: path, offset: offset)
        }
        let payloadSize = Int(handle.size)
        let storedSize = payloadSize + SSTableFormat.blockTrailerSize
        let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: storedSize, alignment: 8)
        var storedOwned = true
        defer { if storedOwned { stored.deallocate() } }
        let got = try file.read(into: stored, at: offset)
        guard got == storedSize else {
            throw StoreError.corruption("block is truncated (\(got) of \(storedSize) bytes)", file: path, offset: offset)
        }
        let view = UnsafeRawBufferPointer(stored)
        let storedCRC = UInt32(littleEndian: view.loadUnaligned(fromByteOffset: payloadSize + 5, as: UInt32.self))
        let actualCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: view[..<(payloadSize + 5)]))
        guard CRC32C.unmask(storedCRC) == actualCRC else {
            throw StoreError.corruption("block checksum mismatch", file: path, offset: offset)
        }
        let rawSize = Int(UInt32(littleEndian: view.loadUnaligned(fromByteOffset: payloadSize + 1, as: UInt32.self)))
        guard let compression = BlockCompression(rawValue: view[payloadSize]) else {
            throw StoreError.corruption("unknown block type \(view[payloadSize])", file: path, offset: offset)
        }
        let info = Stored(compression: compression, rawSize: rawSize)
        switch compression {
        case .none:
            guard rawSize == payloadSize else {
                throw StoreError.corruption("uncompressed block records raw size \(rawSize), holds \(payloadSize)", file: path, offset: offset)
            }
            storedOwned = false
            var taken = false
            defer { if !taken { stored.deallocate() } }
            return try body(stored, payloadSize, info, &taken)
        case .zstd, .zstdDictionary:
            guard rawSize <= SSTableFormat.maxBlockRawSizeBytes else {
                throw StoreError.corruption("block raw size \(rawSize) exceeds the limit", file: path, offset: offset)
            }
            let usedDictionary = compression == .zstdDictionary ? dictionary : nil
            if compression == .zstdDictionary && dictionary == nil {
                throw StoreError.corruption("block needs a dictionary the file does not have", file: path, offset: offset)
            }
            let decoded = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(rawSize, 1), alignment: 8)
            var taken = false
            defer { if !taken { decoded.deallocate() } }
            let ok = ZstdDecompressor.shared.decompress(
                UnsafeRawBufferPointer(rebasing: view[..<payloadSize]),
                into: UnsafeMutableRawBufferPointer(rebasing: decoded[..<rawSize]), dictionary: usedDictionary)
            guard ok else {
                throw StoreError.corruption("zstd block does not decode to its recorded \(rawSize) bytes", file: path, offset: offset)
            }
            return try body(decoded, rawSize, info, &taken)
        }
    }

    /// Reads an entry-format block (data, index, metaindex, properties).
    static func readBlock<Source: BlockSource>(file: Source, path: String, handle: BlockHandle, dataEnd: UInt64, dictionary: ZstdDecompressionDictionary?) throws -> Block {
        try withBlock(file: file, path: path, handle: handle, dataEnd: dataEnd, dictionary: dictionary) { bytes, count, _, taken in
            taken = true  // Block.make owns it from here, even when it throws
            return try Block.make(taking: bytes, count: count, file: path, fileOffset: Int64(handle.offset))
        }
    }

    /// Reads a block's decoded bytes as an array (filters, dictionary).
    static func readBytes<Source: BlockSource>(file: Source, path: String, handle: BlockHandle, dataEnd: UInt64) throws -> [UInt8] {
        try withBlock(file: file, path: path, handle: handle, dataEnd: dataEnd, dictionary: nil) { bytes, count, _, _ in
            Array(UnsafeRawBufferPointer(rebasing: bytes[..<count]))
        }
    }
}

/// Where ``BlockReading`` reads stored blocks from: positional reads.
protocol BlockSource {
    /// Reads up to `buffer.count` bytes at `offset`; returns the count read (less only at end of file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int
}

extension TableFile: BlockSource {}

/// A ``StorageFile`` the caller opened (and closes), as a ``BlockSource``.
struct OpenFileSource: BlockSource {
    let file: any StorageFile
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try file.read(into: buffer, at: offset)
    }
}
