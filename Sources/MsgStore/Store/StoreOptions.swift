/// Every tunable bound of a store, each named with its unit.
public struct StoreOptions: Sendable {
    /// What `open` does with a corrupt log record before the log's tail.
    public enum RecoveryMode: String, Sendable {
        /// Refuse to open, naming the file and offset (default).
        case strict
        /// Recover up to the last good record before the damage and drop the rest.
        case pointInTime
    }

    // MARK: Durability and recovery

    /// Durability of acknowledged writes.
    public var sync: SyncMode = .always
    /// Handling of mid-log corruption at open.
    public var recovery: RecoveryMode = .strict

    // MARK: Write-ahead log

    /// A write-ahead log segment is closed and a new one started past this size.
    public var walSegmentBytes: Int = 32 << 20
    /// Past this many live log segments, the memtables holding the oldest one
    /// are flushed so that it can be deleted.
    public var maxLiveLogSegments: Int = 6
    /// With sync mode `always`: zero-fill each new log segment to
    /// `walSegmentBytes` before use, so that commit `fdatasync`s overwrite
    /// allocated blocks (no metadata to flush: faster durable commits).
    public var preallocateLog: Bool = true
    /// Most bytes one group commit writes before syncing.
    public var maxGroupCommitBytes: Int = 4 << 20
    /// How long the log thread may wait for followers before leading a group
    /// that will `fdatasync`: when the previous synced group carried more
    /// batches than are queued now (their writers are usually on their way
    /// back with the next write), it waits up to this long — less as soon as
    /// as many batches are queued — so that one sync covers them all. 0 leads
    /// at once. Costs a lone durable writer nothing (it only waits for a
    /// group larger than one).
    public var groupCommitWaitMicroseconds: Int = 100

    // MARK: Memory

    /// A partition's memtable becomes immutable (and is flushed) past this size.
    public var memtableBytes: Int = 4 << 20
    /// All memtables together (active and immutable): past it the largest
    /// active one is flushed early, and immutable ones past half of it stall
    /// writers until flushes catch up.
    public var memtableBudgetBytes: Int = 64 << 20
    /// Decoded SSTable blocks kept in memory.
    public var blockCacheBytes: Int = 32 << 20
    /// Results of point lookups kept in memory, for tables declared with
    /// ``TableSchema/cachesRows``.
    public var rowCacheBytes: Int = 32 << 20

    // MARK: SSTables and compaction

    /// Target decoded size of an SSTable data block.
    public var blockBytes: Int = 4096
    /// zstd level of SSTable data blocks (flushes use level 1 for speed).
    public var compressionLevel: Int32 = 3
    /// Size of the zstd dictionary trained for each compaction output file
    /// (0: no dictionary). Trained from the file's own data.
    public var dictionaryBytes: Int = 32 << 10
    /// Bloom filter bits per key (point lookups) and per prefix (scans).
    public var bloomBitsPerKey: Int = 10
    /// L0 files of a partition that trigger its L0 → L1 compaction.
    public var level0CompactionTrigger: Int = 4
    /// L0 files (in any partition) at which each commit group is slowed by 1 ms.
    public var level0SlowdownTrigger: Int = 12
    /// L0 files (in any partition) at which writers stop until compaction catches up.
    public var level0StopTrigger: Int = 20
    /// Target bytes of L1 per partition; each deeper level is `levelMultiplier` times larger.
    public var levelBaseBytes: Int = 8 << 20
    /// Growth factor between levels.
    public var levelMultiplier: Int = 10
    /// Compaction output files are cut at about this size.
    public var targetFileBytes: Int = 4 << 20

    /// SSTable descriptors kept open, at most (LevelDB's `max_open_files`).
    /// An open SSTable keeps its index, filters and dictionary in memory
    /// (``StoreStatistics/tableMetadataBytes``) but reads its data blocks
    /// through a descriptor that is opened on demand and, past this many,
    /// closed again least recently used first (CLOCK). A descriptor is never
    /// closed under a read in flight, so concurrent reads may exceed the cap
    /// by one each, briefly. Reads that miss the block cache in a file whose
    /// descriptor was closed pay an `open(2)` (``StoreStatistics/tableFileReopens``).
    /// The default leaves about half of the common soft limit of 1,024
    /// descriptors to the log, queues and the server's connections. At least 1.
    public var maxOpenTableFiles: Int = 500

    /// The manifest is rewritten as a fresh snapshot past this size.
    public var maxManifestBytes: Int = 16 << 20

    // MARK: Limits

    /// The largest key (partition key + sort key) accepted.
    public var maxKeyBytes: Int = 16 << 10
    /// The largest value accepted (at most ``valueBytesLimit``).
    public var maxValueBytes: Int = 16 << 20
    /// The ceiling on ``maxValueBytes`` (32 MiB): an SSTable block holds at
    /// least one entry, and readers refuse blocks larger than this bounds.
    public static let valueBytesLimit = 32 << 20
    /// The largest batch accepted (encoded bytes).
    public var maxBatchBytes: Int = 64 << 20

    /// Default options: sync always, strict recovery.
    /// Called with every ``StoreEvent`` (flushes, compactions, recovery,
    /// slow syncs), on the thread that did the work: keep it short (a log
    /// line, a counter). Nil: no events.
    public var eventListener: (@Sendable (StoreEvent) -> Void)?
    /// A log group whose write + `fdatasync` takes longer than this is
    /// reported as ``StoreEvent/slowSync(_:)``. Default 100 ms.
    public var slowSyncMicroseconds: Int64 = 100_000

    public init() {}

    /// Target bytes of `level` (≥ 1) in one partition.
    func targetBytes(level: Int) -> UInt64 {
        var bytes = UInt64(levelBaseBytes)
        for _ in 1..<max(level, 1) { bytes *= UInt64(levelMultiplier) }
        return bytes
    }
}
