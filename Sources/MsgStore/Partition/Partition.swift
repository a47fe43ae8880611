/// One partition of a table: an LSM tree of its own — the active memtable,
/// immutable memtables waiting to be flushed, and (with SSTables) levels of
/// files — flushed and compacted independently of the others.
///
/// Only the commit leader writes to the active memtable and swaps it; readers
/// take a consistent view of the sources with ``sources()``.
final class Partition: @unchecked Sendable {
    let tableId: UInt32
    let index: Int
    private let lock = ConditionLock()
    // Guarded by `lock` for readers; mutated only by the commit leader.
    private var activeTable: MemTable
    private var immutableTables: [MemTable] = []  // newest first

    init(tableId: UInt32, index: Int, firstLogNumber: UInt64) {
        self.tableId = tableId
        self.index = index
        self.activeTable = MemTable(firstLogNumber: firstLogNumber)
    }

    /// The memtable the leader writes to. REQUIRES: called by the commit leader (or during recovery).
    var active: MemTable { activeTable }

    /// The memtables to read, newest first.
    func sources() -> [MemTable] {
        lock.withLock { [activeTable] + immutableTables }
    }

    /// Makes the active memtable immutable and starts a new one whose entries
    /// will be in log segment `logNumber` or later. REQUIRES: commit leader.
    func rotate(logNumber: UInt64) {
        lock.withLock {
            immutableTables.insert(activeTable, at: 0)
            activeTable = MemTable(firstLogNumber: logNumber)
        }
    }

    /// Memory held by this partition's memtables.
    var memtableBytes: Int {
        sources().reduce(0) { $0 + $1.bytesReserved }
    }
}
