/// Versions of the SSTable file format, oldest first (Pebble's `sstable/format.go`).
///
/// A reader accepts every version up to ``latest`` and refuses newer ones with
/// ``StoreError/Code/unsupportedFormat``. Add a case for every change to the
/// bytes on disk; never change what an existing case means.
enum FormatVersion: UInt32, Sendable, Comparable, CaseIterable {
    /// v1: LevelDB-style data blocks with restart points; per-block zstd (optional
    /// file dictionary); block trailer = type u8 ‖ raw size u32 ‖ masked CRC32C;
    /// whole-file bloom filter on user keys and on user-key prefixes; named
    /// properties; 56-byte footer with its own CRC.
    case v1 = 1

    /// The version new files are written with.
    static let latest: FormatVersion = .v1

    static func < (lhs: FormatVersion, rhs: FormatVersion) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Fixed constants and bounds of the SSTable format.
enum SSTableFormat {
    /// The last 8 bytes of every SSTable ("msgSST01" read as a little-endian u64).
    static let magic: UInt64 = 0x3130_5453_5367_736D
    /// Size of the footer in bytes.
    static let footerSize = 56
    /// Bytes reserved for the two block handles at the start of the footer.
    static let footerHandlesSize = 40
    /// Bytes after each block: type (1) ‖ raw size (4) ‖ masked CRC32C (4).
    static let blockTrailerSize = 9
    /// The largest decoded block a reader accepts (bounds every allocation a
    /// corrupt raw size could ask for): one entry of the largest key and
    /// value a store accepts (``StoreOptions/valueBytesLimit``), plus room.
    static let maxBlockRawSizeBytes = 33 << 20
    /// The largest dictionary a reader accepts.
    static let maxDictionarySizeBytes = 4 << 20

    /// Names of the entries of the metaindex block.
    enum MetaName {
        static let bloomFilter = "filter.bloom.key"
        static let prefixFilter = "filter.bloom.prefix"
        static let properties = "properties"
        static let dictionary = "compression.dictionary"
    }
}

/// How the payload of a block is stored (the first byte of its trailer).
enum BlockCompression: UInt8, Sendable, Codable {
    /// Stored as is.
    case none = 0
    /// One zstd frame, no dictionary.
    case zstd = 1
    /// One zstd frame compressed with the file's dictionary.
    case zstdDictionary = 2
}
