/// Facts about one SSTable, stored in its properties block and shown by
/// `msgstore inspect`.
///
/// Stored as a block (the data-block layout, restart interval 1) of
/// `name → value` entries sorted by name: numbers as varints, keys as raw
/// bytes, text as UTF-8. Readers ignore names they do not know and default
/// missing ones, so properties can be added without a new format version.
public struct SSTableProperties: Sendable, Codable, Equatable {
    /// Entries (values and tombstones).
    public var entryCount: UInt64 = 0
    /// Tombstones among the entries.
    public var deletionCount: UInt64 = 0
    /// The smallest internal key (user key ‖ u64 LE trailer); empty if no entries.
    public var smallestKey: [UInt8] = []
    /// The largest internal key; empty if no entries.
    public var largestKey: [UInt8] = []
    /// Sum of the internal keys' lengths before prefix compression.
    public var rawKeyBytes: UInt64 = 0
    /// Sum of the values' lengths.
    public var rawValueBytes: UInt64 = 0
    /// Sum of the decoded data blocks' sizes.
    public var rawDataBytes: UInt64 = 0
    /// Bytes the data blocks take in the file, trailers included.
    public var storedDataBytes: UInt64 = 0
    /// Number of data blocks.
    public var dataBlockCount: UInt64 = 0
    /// The smallest sequence number of an entry.
    public var smallestSequence: UInt64 = 0
    /// The largest sequence number of an entry.
    public var largestSequence: UInt64 = 0
    /// When the file was written, in microseconds since 1970.
    public var creationTimeMicros: Int64 = 0
    /// The compression of data blocks: "none" or "zstd".
    public var compression: String = "none"
    /// The zstd level (0 when not compressed).
    public var compressionLevel: Int32 = 0
    /// Size of the file's zstd dictionary in bytes (0: none).
    public var dictionarySizeBytes: UInt64 = 0
    /// Bits per key of the user-key bloom filter (0: no filter).
    public var bloomBitsPerKey: UInt64 = 0
    /// Distinct user keys in the bloom filter.
    public var bloomKeyCount: UInt64 = 0
    /// Bits per key of the prefix filter (0: no filter).
    public var prefixBitsPerKey: UInt64 = 0
    /// Distinct prefixes in the prefix filter.
    public var prefixKeyCount: UInt64 = 0

    /// Creates empty properties.
    public init() {}

    private enum Name {
        static let entryCount = "entries"
        static let deletionCount = "entries.deletions"
        static let smallestKey = "key.smallest"
        static let largestKey = "key.largest"
        static let rawKeyBytes = "size.raw.keys"
        static let rawValueBytes = "size.raw.values"
        static let rawDataBytes = "size.raw.data"
        static let storedDataBytes = "size.stored.data"
        static let dataBlockCount = "blocks.data"
        static let smallestSequence = "sequence.smallest"
        static let largestSequence = "sequence.largest"
        static let creationTimeMicros = "created.micros"
        static let compression = "compression"
        static let compressionLevel = "compression.level"
        static let dictionarySizeBytes = "compression.dictionary.size"
        static let bloomBitsPerKey = "filter.key.bits"
        static let bloomKeyCount = "filter.key.count"
        static let prefixBitsPerKey = "filter.prefix.bits"
        static let prefixKeyCount = "filter.prefix.count"
    }

    /// The decoded properties block.
    func encode() -> [UInt8] {
        var entries: [(String, [UInt8])] = []
        func number(_ name: String, _ value: UInt64) {
            var bytes: [UInt8] = []
            bytes.appendVarint(value)
            entries.append((name, bytes))
        }
        number(Name.entryCount, entryCount)
        number(Name.deletionCount, deletionCount)
        entries.append((Name.smallestKey, smallestKey))
        entries.append((Name.largestKey, largestKey))
        number(Name.rawKeyBytes, rawKeyBytes)
        number(Name.rawValueBytes, rawValueBytes)
        number(Name.rawDataBytes, rawDataBytes)
        number(Name.storedDataBytes, storedDataBytes)
        number(Name.dataBlockCount, dataBlockCount)
        number(Name.smallestSequence, smallestSequence)
        number(Name.largestSequence, largestSequence)
        number(Name.creationTimeMicros, UInt64(bitPattern: creationTimeMicros))
        entries.append((Name.compression, Array(compression.utf8)))
        number(Name.compressionLevel, UInt64(UInt32(bitPattern: compressionLevel)))
        number(Name.dictionarySizeBytes, dictionarySizeBytes)
        number(Name.bloomBitsPerKey, bloomBitsPerKey)
        number(Name.bloomKeyCount, bloomKeyCount)
        number(Name.prefixBitsPerKey, prefixBitsPerKey)
        number(Name.prefixKeyCount, prefixKeyCount)
        entries.sort { compareBytes(Array($0.0.utf8), Array($1.0.utf8)) < 0 }
        var builder = BlockBuilder(restartInterval: 1)
        for (name, value) in entries { builder.add(Array(name.utf8), value) }
        return builder.finish()
    }

    /// Decodes a properties block.
    static func decode(_ block: Block) throws -> SSTableProperties {
        var properties = SSTableProperties()
        var cursor = BlockCursor(block: block, keyBuffer: ScratchBuffer(), internalKeys: false)
        try cursor.seekToFirst()
        while cursor.isValid {
            let name = String(decoding: cursor.key, as: UTF8.self)
            let value = cursor.value
            func number() throws -> UInt64 {
                guard let number = BlockHandle.decodeVarint(value) else {
                    throw StoreError.corruption("property \(name) is not a varint", file: block.file, offset: block.fileOffset)
                }
                return number
            }
            switch name {
            case Name.entryCount: properties.entryCount = try number()
            case Name.deletionCount: properties.deletionCount = try number()
            case Name.smallestKey: properties.smallestKey = Array(value)
            case Name.largestKey: properties.largestKey = Array(value)
            case Name.rawKeyBytes: properties.rawKeyBytes = try number()
            case Name.rawValueBytes: properties.rawValueBytes = try number()
            case Name.rawDataBytes: properties.rawDataBytes = try number()
            case Name.storedDataBytes: properties.storedDataBytes = try number()
            case Name.dataBlockCount: properties.dataBlockCount = try number()
            case Name.smallestSequence: properties.smallestSequence = try number()
            case Name.largestSequence: properties.largestSequence = try number()
            case Name.creationTimeMicros: properties.creationTimeMicros = Int64(bitPattern: try number())
            case Name.compression: properties.compression = String(decoding: value, as: UTF8.self)
            case Name.compressionLevel: properties.compressionLevel = Int32(bitPattern: UInt32(truncatingIfNeeded: try number()))
            case Name.dictionarySizeBytes: properties.dictionarySizeBytes = try number()
            case Name.bloomBitsPerKey: properties.bloomBitsPerKey = try number()
            case Name.bloomKeyCount: properties.bloomKeyCount = try number()
            case Name.prefixBitsPerKey: properties.prefixBitsPerKey = try number()
            case Name.prefixKeyCount: properties.prefixKeyCount = try number()
            default: break  // written by a newer version: ignore
            }
            try cursor.next()
        }
        return properties
    }
}

extension BlockHandle {
    /// Decodes a varint that fills `bytes` exactly.
    static func decodeVarint(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        var cursor = ByteCursor(bytes)
        guard let value = cursor.readVarint(), cursor.isAtEnd else { return nil }
        return value
    }
}
