/// How a ``SSTableBuilder`` lays out a file. Readers need none of this: every
/// choice is recorded in the file.
struct SSTableOptions: Sendable {
    /// Target decoded size of a data block; a block is cut once it reaches it.
    var blockSizeBytes = 4096
    /// Entries between restart points in data blocks.
    var restartInterval = 16
    /// zstd level for data blocks; `nil` stores them uncompressed.
    var compressionLevel: Int32? = 3
    /// Train a zstd dictionary from the file's own values (`nil`: no dictionary).
    var dictionary: DictionaryOptions? = nil
    /// Bits per key of the bloom filter on whole user keys (0: no filter).
    var bloomBitsPerKey = 10
    /// Bits per prefix of the prefix filter on ``RowKeyCoding`` prefixes
    /// (0: no filter). A file holding a key without a valid prefix gets none.
    var prefixBitsPerKey = 10
    /// Bytes buffered before a `pwrite`.
    var writeBufferBytes = 256 << 10
    /// The creation time to record (`nil`: now). Tests fix it for golden files.
    var creationTimeMicros: Int64? = nil

    /// Defaults: 4 KiB blocks, zstd level 3, no dictionary, 10 bits/key filters.
    init() {}

    /// Options of the per-file zstd dictionary.
    ///
    /// Measured on the 242,146 time-ordered rows of the small generated benchmark workload
    /// (docs/workload.md; zstd 3, 4 KiB blocks, files of ≤ 4 MiB raw): no dictionary 89.3 B/entry;
    /// 16 KiB trained on 1 MiB 77.6 B/entry; 64 KiB trained on 4 MiB 68.8 B/entry
    /// (training costs ~0.5–1 s per file, so prefer it for compaction outputs).
    struct DictionaryOptions: Sendable {
        /// Largest dictionary to train.
        var maxSizeBytes = 64 << 10
        /// Decoded data-block bytes held back (and value bytes sampled) before
        /// training; the held blocks are written once the dictionary exists.
        var trainingBytes = 4 << 20
        /// Creates dictionary options.
        init(maxSizeBytes: Int = 64 << 10, trainingBytes: Int = 4 << 20) {
            self.maxSizeBytes = maxSizeBytes
            self.trainingBytes = trainingBytes
        }
    }
}

/// What a finished SSTable holds: what flush and compaction record in the manifest.
struct SSTableMetadata: Sendable, Equatable {
    /// Size of the file in bytes.
    var fileSize: UInt64
    /// Smallest internal key (empty if the table is empty).
    var smallestKey: [UInt8]
    /// Largest internal key (empty if the table is empty).
    var largestKey: [UInt8]
    /// Number of entries.
    var entryCount: UInt64
    /// Smallest sequence number.
    var smallestSequence: UInt64
    /// Largest sequence number.
    var largestSequence: UInt64
    /// Everything recorded in the properties block.
    var properties: SSTableProperties
}
