import Synchronization

/// One partition of a table: an LSM tree of its own — the active memtable,
/// immutable memtables waiting to be flushed, and levels of SSTables —
/// flushed and compacted independently of the other partitions.
///
/// Only the commit leader writes to the active memtable and swaps it; the
/// flush and compaction threads install new versions; readers take a
/// consistent ``ReadView`` under the partition's lock and then read without it.
final class Partition: @unchecked Sendable {
    let id: PartitionID
    private let lock = ConditionLock()
    // Guarded by `lock` for readers; the active memtable is replaced only by the leader.
    private var activeTable: MemTable
    private var immutableTables: [MemTable] = []  // newest first
    private var currentVersion = PartitionVersion()
    /// Whether a compaction of this partition is running (one at a time).
    private var compacting = false

    init(id: PartitionID, firstLogNumber: UInt64) {
        self.id = id
        self.activeTable = MemTable(firstLogNumber: firstLogNumber)
    }

    /// What a read sees: memtables newest first, then the SSTables. Built once
    /// per change of the partition's shape and shared by every read until the
    /// next change, so that a read costs one retain, not an array copy.
    final class ReadView: Sendable {
        let memtables: [MemTable]
        let version: PartitionVersion

        init(memtables: [MemTable], version: PartitionVersion) {
            self.memtables = memtables
            self.version = version
        }
    }

    /// The current view; rebuilt under `lock` whenever memtables or files change.
    private var cachedView: ReadView?

    /// The memtable the leader writes to. REQUIRES: called by the commit leader (or during recovery).
    var active: MemTable { activeTable }

    /// A consistent view for reading. Take the snapshot sequence *after* this.
    func readView() -> ReadView {
        lock.withLock {
            if let cachedView { return cachedView }
            let view = ReadView(memtables: [activeTable] + immutableTables, version: currentVersion)
            cachedView = view
            return view
        }
    }

    /// The current SSTables.
    var version: PartitionVersion { lock.withLock { currentVersion } }

    /// Makes the active memtable immutable and starts a new one whose entries
    /// will be in log segment `logNumber` or later. REQUIRES: commit leader.
    func rotate(logNumber: UInt64) {
        lock.withLock {
            guard !activeTable.isEmpty else { return }
            immutableTables.insert(activeTable, at: 0)
            activeTable = MemTable(firstLogNumber: logNumber)
            cachedView = nil
        }
    }

    /// The oldest immutable memtable (the next to flush), if any.
    var oldestImmutable: MemTable? { lock.withLock { immutableTables.last } }

    /// Bytes of the active memtable and of the immutable ones.
    var memoryBytes: (active: Int, immutable: Int) {
        lock.withLock { (activeTable.approximateBytes, immutableTables.reduce(0) { $0 + $1.approximateBytes }) }
    }

    /// The smallest first log number of any non-empty memtable, or nil.
    var oldestLogNeeded: UInt64? {
        lock.withLock {
            ([activeTable] + immutableTables).filter { !$0.isEmpty }.map(\.firstLogNumber).min()
        }
    }

    /// Replaces the flushed memtable with its SSTable (at L0) in one step.
    func installFlush(of memtable: MemTable, file: SSTableFile?) {
        lock.withLock {
            immutableTables.removeAll { $0 === memtable }
            if let file { currentVersion.levels[0].insert(file, at: 0) }
            cachedView = nil
        }
    }

    /// Applies a compaction's result in one step.
    func installCompaction(removed: Set<UInt64>, added: [(level: Int, file: SSTableFile)]) {
        lock.withLock {
            for level in 0..<levelCount {
                currentVersion.levels[level].removeAll { removed.contains($0.metadata.number) }
            }
            for (level, file) in added { currentVersion.levels[level].append(file) }
            for level in 1..<levelCount {
                currentVersion.levels[level].sort {
                    compareBytes(Array($0.metadata.smallestUserKey), Array($1.metadata.smallestUserKey)) < 0
                }
            }
            cachedView = nil
        }
    }

    /// Sets the version at open.
    func installRecovered(_ version: PartitionVersion) {
        lock.withLock {
            currentVersion = version
            cachedView = nil
        }
    }

    /// Claims the partition for a compaction; false if one is running.
    func beginCompaction() -> Bool {
        lock.withLock {
            if compacting { return false }
            compacting = true
            return true
        }
    }

    func endCompaction() { lock.withLock { compacting = false } }
}
