/// Counters and gauges of an open store: write path, LSM shape,
/// amplification, backpressure, caches.
public struct StoreStatistics: Sendable, Equatable {
    /// Sequence number of the newest visible batch.
    public var lastSequence: UInt64 = 0
    /// Group commits: each writes one log record per batch with one `pwrite`.
    public var commitGroups: UInt64 = 0
    /// Groups led in place by an async caller (an unsynced batch that found
    /// the pipeline idle) instead of by the log thread.
    public var inPlaceCommitGroups: UInt64 = 0
    /// Batches committed.
    public var batches: UInt64 = 0
    /// `fdatasync`s of the write-ahead log (at most one per commit group).
    public var logSyncs: UInt64 = 0
    /// Bytes appended to the write-ahead log.
    public var logBytesWritten: UInt64 = 0
    /// Live log segments.
    public var liveLogSegments: Int = 0
    /// Memory of the memtables being written to.
    public var activeMemtableBytes: Int = 0
    /// Memory of the memtables waiting to be flushed.
    public var immutableMemtableBytes: Int = 0
    /// Memtables flushed to SSTables.
    public var flushes: UInt64 = 0
    /// SSTable bytes written by flushes.
    public var flushBytesWritten: UInt64 = 0
    /// Compactions run.
    public var compactions: UInt64 = 0
    /// SSTable bytes read by compactions.
    public var compactionBytesRead: UInt64 = 0
    /// SSTable bytes written by compactions.
    public var compactionBytesWritten: UInt64 = 0
    /// SSTable files per level (summed over partitions).
    public var levelFileCounts: [Int] = []
    /// SSTable bytes per level (summed over partitions).
    public var levelBytes: [UInt64] = []
    /// Total bytes of live SSTables.
    public var sstBytes: UInt64 = 0
    /// Time writers were stalled or slowed by backpressure.
    public var stallMicroseconds: UInt64 = 0
    /// Commit groups slowed by 1 ms because level 0 passed its slowdown trigger.
    public var slowdowns: UInt64 = 0
    /// Block lookups answered by the block cache.
    public var blockCacheHits: UInt64 = 0
    /// Block lookups that read the SSTable.
    public var blockCacheMisses: UInt64 = 0
    /// Bytes of decoded blocks held by the block cache.
    public var blockCacheBytes: Int = 0
    /// Point lookups answered by the row cache.
    public var rowCacheHits: UInt64 = 0
    /// Point lookups of row-cached tables that missed the cache.
    public var rowCacheMisses: UInt64 = 0
    /// Bytes held by the row cache.
    public var rowCacheBytes: Int = 0
    /// Bytes the open SSTables hold in memory outside the block cache: index
    /// blocks, bloom and prefix filters, compression dictionaries.
    public var tableMetadataBytes: Int = 0
    /// SSTable descriptors open now (at most ``StoreOptions/maxOpenTableFiles``,
    /// but for reads in flight).
    public var openTableFiles: Int = 0
    /// SSTable descriptors opened again for a read after being closed to
    /// respect ``StoreOptions/maxOpenTableFiles`` (0 while the cap is never reached).
    public var tableFileReopens: UInt64 = 0
    /// SSTable descriptors closed to respect ``StoreOptions/maxOpenTableFiles``.
    public var tableFileEvictions: UInt64 = 0

    /// (flush + compaction bytes written) / flush bytes written: how many times
    /// each flushed byte is rewritten by compaction (1 = never).
    public var writeAmplification: Double {
        flushBytesWritten == 0 ? 0 : Double(flushBytesWritten + compactionBytesWritten) / Double(flushBytesWritten)
    }

    /// Live SSTable bytes / the bytes of each partition's deepest non-empty
    /// level: how much larger the files are than the data fully compacted.
    public var spaceAmplification: Double = 0
}

extension Engine {
    func statistics() -> StoreStatistics {
        var statistics = StoreStatistics()
        statistics.lastSequence = published.last
        statistics.commitGroups = pipeline.stats.groups.load(ordering: .relaxed)
        statistics.inPlaceCommitGroups = pipeline.stats.inPlaceGroups.load(ordering: .relaxed)
        statistics.batches = pipeline.stats.batches.load(ordering: .relaxed)
        statistics.logSyncs = pipeline.stats.syncs.load(ordering: .relaxed)
        statistics.logBytesWritten = pipeline.stats.logBytes.load(ordering: .relaxed)
        statistics.liveLogSegments = log.liveSegmentCount
        statistics.activeMemtableBytes = counters.activeMemtableBytes.load(ordering: .relaxed)
        statistics.immutableMemtableBytes = counters.immutableMemtableBytes.load(ordering: .relaxed)
        statistics.flushes = counters.flushes.load(ordering: .relaxed)
        statistics.flushBytesWritten = counters.flushBytesWritten.load(ordering: .relaxed)
        statistics.compactions = counters.compactions.load(ordering: .relaxed)
        statistics.compactionBytesRead = counters.compactionBytesRead.load(ordering: .relaxed)
        statistics.compactionBytesWritten = counters.compactionBytesWritten.load(ordering: .relaxed)
        statistics.stallMicroseconds = counters.stallMicroseconds.load(ordering: .relaxed)
        statistics.slowdowns = counters.slowdowns.load(ordering: .relaxed)
        var counts = Array(repeating: 0, count: levelCount)
        var bytes = Array(repeating: UInt64(0), count: levelCount)
        var perPartition: [[UInt64]] = []
        var metadataBytes = 0
        for partition in catalog.partitions {
            let version = partition.version
            for level in version.levels { for file in level { metadataBytes += file.reader.residentBytes } }
            perPartition.append((0..<levelCount).map { version.bytes(level: $0) })
            for level in 0..<levelCount {
                counts[level] += version.levels[level].count
                bytes[level] += version.bytes(level: level)
            }
        }
        statistics.spaceAmplification = lsmSpaceAmplification(levelBytesPerPartition: perPartition)
        statistics.levelFileCounts = counts
        statistics.levelBytes = bytes
        statistics.sstBytes = bytes.reduce(0, +)
        let cache = blockCache.statistics
        statistics.blockCacheHits = UInt64(cache.hits)
        statistics.blockCacheMisses = UInt64(cache.misses)
        statistics.blockCacheBytes = cache.usageBytes
        let rows = rowCache.statistics
        statistics.rowCacheHits = UInt64(rows.hits)
        statistics.rowCacheMisses = UInt64(rows.misses)
        statistics.rowCacheBytes = rows.bytes
        statistics.tableMetadataBytes = metadataBytes
        let tables = tableFiles.statistics
        statistics.openTableFiles = tables.openFiles
        statistics.tableFileReopens = tables.reopens
        statistics.tableFileEvictions = tables.evictions
        return statistics
    }
}

extension Store {
    /// Counters and gauges of the store, read now.
    public var statistics: StoreStatistics { engine.statistics() }
}
