/// Something the engine did that an operator may want in a log: a flush, a
/// compaction, recovery at open, an `fdatasync` slower than
/// ``StoreOptions/slowSyncMicroseconds``. Delivered to
/// ``StoreOptions/eventListener`` (RocksDB's `EventListener`, in one closure).
public enum StoreEvent: Sendable, Equatable {
    /// A memtable became an L0 table.
    case flushed(FlushInfo)
    /// A compaction replaced tables of one level and the next with new ones.
    case compacted(CompactionInfo)
    /// The store opened: the write-ahead log was replayed.
    case recovered(RecoveryInfo)
    /// A log write group's `fdatasync` took longer than ``StoreOptions/slowSyncMicroseconds``.
    case slowSync(SlowSyncInfo)

    /// Figures of a flush.
    public struct FlushInfo: Sendable, Equatable {
        /// The table (an index: `table.index`).
        public var table: String
        /// The partition of it.
        public var partition: Int
        /// Bytes of the memtable (approximate, as budgeted).
        public var memtableBytes: Int
        /// Bytes of the tables written.
        public var bytesWritten: UInt64
        /// Tables written (0 when every entry was a tombstone with nothing below).
        public var files: Int
        /// Wall time of the flush in microseconds.
        public var microseconds: Int64
    }

    /// Figures of a compaction.
    public struct CompactionInfo: Sendable, Equatable {
        /// The table (an index: `table.index`).
        public var table: String
        /// The partition of it.
        public var partition: Int
        /// The level read from (its files and the overlapping ones of `level + 1` were merged).
        public var level: Int
        /// Tables read.
        public var inputFiles: Int
        /// Bytes read.
        public var bytesRead: UInt64
        /// Tables written to `level + 1`.
        public var outputFiles: Int
        /// Bytes written.
        public var bytesWritten: UInt64
        /// Wall time in microseconds.
        public var microseconds: Int64
    }

    /// Figures of recovery at open.
    public struct RecoveryInfo: Sendable, Equatable {
        /// Log segments replayed.
        public var logSegments: Int
        /// Batch records replayed into the memtables.
        public var logRecords: Int
        /// Torn tails cut (a crash mid-write); each also named by ``Store/recoveredTornTails``.
        public var tornTails: Int
        /// Wall time of the open in microseconds.
        public var microseconds: Int64
    }

    /// Figures of a slow sync.
    public struct SlowSyncInfo: Sendable, Equatable {
        /// The log segment.
        public var file: String
        /// Bytes written by the group before the sync.
        public var bytes: Int64
        /// Write plus `fdatasync` in microseconds.
        public var microseconds: Int64
    }
}
