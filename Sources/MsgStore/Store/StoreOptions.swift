/// Every tunable bound of a store, each named with its unit.
public struct StoreOptions: Sendable {
    /// When an acknowledged write is on stable storage.
    public enum SyncMode: String, Sendable, CaseIterable {
        /// `fdatasync` the log before a write returns (default). Survives power loss.
        case always
        /// Write the log with `write(2)` but do not sync: survives a process crash,
        /// not an OS crash or power loss. For bulk loads and benchmarks.
        case none
    }

    /// What `open` does with a corrupt log record before the log's tail.
    public enum RecoveryMode: String, Sendable {
        /// Refuse to open, naming the file and offset (default).
        case strict
        /// Recover up to the last good record before the damage and drop the rest.
        case pointInTime
    }

    /// Durability of acknowledged writes.
    public var sync: SyncMode = .always
    /// Handling of mid-log corruption at open.
    public var recovery: RecoveryMode = .strict
    /// A write-ahead log segment is closed and a new one started past this size.
    public var walSegmentBytes: Int = 64 << 20
    /// A partition's memtable becomes immutable (and is flushed) past this size.
    public var memtableBytes: Int = 8 << 20
    /// Total memory all memtables (active and immutable) may hold before writers wait.
    public var memtableBudgetBytes: Int = 256 << 20
    /// The largest key (partition key + sort key) accepted.
    public var maxKeyBytes: Int = 16 << 10
    /// The largest value accepted.
    public var maxValueBytes: Int = 16 << 20
    /// The largest batch accepted (encoded bytes).
    public var maxBatchBytes: Int = 64 << 20
    /// Most bytes one group commit writes before syncing.
    public var maxGroupCommitBytes: Int = 4 << 20

    /// Default options: sync always, strict recovery.
    public init() {}
}
