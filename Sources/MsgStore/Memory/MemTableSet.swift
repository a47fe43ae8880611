#if canImport(Glibc)
import Glibc
#endif

/// Every partition's memtables as one memory budget: applying committed
/// batches to the active memtables, making memtables immutable (rotation)
/// when full, over the budget, or pinning too many log segments, and holding
/// writers back while flushes catch up.
///
/// Who touches what:
/// - `rotationCandidates`: the commit leader only (filled by ``apply(_:)``,
///   emptied by ``rotateWhereDue()`` in the same group);
/// - the memtables themselves: each ``Partition`` (its own lock); only the
///   leader writes to an active memtable or rotates it;
/// - the byte gauges `counters.activeMemtableBytes` (leader only) and
///   `counters.immutableMemtableBytes` (leader adds on rotation, a flush
///   subtracts): relaxed atomics.
///
/// Invariants (``checkInvariants()``, leader, after every group in debug
/// builds): no rotation candidate is left; the active gauge equals the sum
/// of the active memtables' sizes.
final class MemTableSet: @unchecked Sendable {
    private let catalog: TableCatalog
    private let log: LogManager
    private let scheduler: BackgroundScheduler
    private let counters: EngineCounters
    private let rowCache: RowCache
    private let memtableBytes: Int
    private let memtableBudgetBytes: Int
    private let maxLiveLogSegments: Int
    private let level0SlowdownTrigger: Int
    private let level0StopTrigger: Int
    /// Partitions whose active memtable passed `memtableBytes` during the group. Leader only.
    private var rotationCandidates: [Partition] = []

    /// The memtables of `catalog`'s partitions, as recovered (the active
    /// gauge is set from them).
    init(catalog: TableCatalog, log: LogManager, scheduler: BackgroundScheduler, counters: EngineCounters,
         rowCache: RowCache, options: StoreOptions) {
        self.catalog = catalog
        self.log = log
        self.scheduler = scheduler
        self.counters = counters
        self.rowCache = rowCache
        memtableBytes = options.memtableBytes
        memtableBudgetBytes = options.memtableBudgetBytes
        maxLiveLogSegments = options.maxLiveLogSegments
        level0SlowdownTrigger = options.level0SlowdownTrigger
        level0StopTrigger = options.level0StopTrigger
        // The replayed memtables count against the budgets like any others.
        counters.activeMemtableBytes.store(catalog.partitions.reduce(0) { $0 + $1.active.approximateBytes }, ordering: .relaxed)
    }

    // MARK: Applying batches

    /// Inserts a logged batch into the active memtables. REQUIRES: commit leader.
    @inline(__always)
    func apply(_ record: UnsafeRawBufferPointer) throws {
        let crossed = try Self.apply(record, tables: catalog.tablesById, skipping: nil, file: nil, offset: nil,
                                     memtableBytes: memtableBytes, counters: counters, rowCache: rowCache)
        if !crossed.isEmpty { rotationCandidates.append(contentsOf: crossed) }
    }

    /// Inserts every op of a logged batch into its partition's active memtable,
    /// skipping ops of partitions whose SSTables already hold them (recovery).
    /// Returns the partitions whose memtable passed `memtableBytes`.
    @discardableResult
    static func apply(
        _ record: UnsafeRawBufferPointer, tables: [UInt32: TableState], skipping flushed: [PartitionID: UInt64]?,
        file: String?, offset: Int64?, memtableBytes: Int = .max, counters: EngineCounters? = nil,
        rowCache: RowCache? = nil
    ) throws -> [Partition] {
        guard let header = BatchDecoder.header(record) else {
            throw StoreError.corruption("batch shorter than its header", file: file, offset: offset)
        }
        var sequence = header.baseSequence
        var unknownTable: UInt32?
        var badKey = false
        var crossed: [Partition] = []
        var added = 0
        let wellFormed = BatchDecoder.forEachOp(record) { op in
            defer { sequence += 1 }
            guard let table = tables[op.tableId] else { unknownTable = op.tableId; return }
            guard let partition = table.partition(forUserKey: op.userKey) else { badKey = true; return }
            if let flushed, let done = flushed[partition.id], sequence <= done { return }
            if table.handle.cachesRows { rowCache?.invalidate(table: op.tableId, userKey: op.userKey, sequence: sequence) }
            let memtable = partition.active
            let before = memtable.approximateBytes
            memtable.add(userKey: op.userKey, sequence: sequence, kind: op.kind, value: op.value)
            let after = memtable.approximateBytes
            added += after - before
            if before < memtableBytes && after >= memtableBytes { crossed.append(partition) }
        }
        if let unknownTable {
            throw StoreError.corruption("batch refers to unknown table id \(unknownTable)", file: file, offset: offset)
        }
        guard wellFormed, !badKey, sequence - header.baseSequence == UInt64(header.count) else {
            throw StoreError.corruption("malformed batch (ops do not match the header)", file: file, offset: offset)
        }
        counters?.activeMemtableBytes.add(added, ordering: .relaxed)
        return crossed
    }

    // MARK: Rotation

    /// After a group (leader): rotates memtables that are full, the largest
    /// one when over the memory budget, and those pinning too many log
    /// segments; wakes the flush thread if any was rotated. Throws when the
    /// log sync a rotation needs fails (the log is then failed).
    func rotateWhereDue() throws {
        let logNumber = log.currentNumber
        var rotated = false
        defer { rotationCandidates.removeAll(keepingCapacity: true) }
        for partition in rotationCandidates where partition.active.approximateBytes >= memtableBytes {
            try rotate(partition, logNumber: logNumber)
            rotated = true
        }

        if isOverBudgetForRotation {
            // Over budget: flush the largest active memtable early.
            if let largest = catalog.partitions.max(by: { $0.active.approximateBytes < $1.active.approximateBytes }),
               !largest.active.isEmpty {
                try rotate(largest, logNumber: logNumber)
                rotated = true
            }
        }
        if pinsTooManyLogSegments {
            let oldest = log.oldestLiveSegment
            for partition in catalog.partitions where !partition.active.isEmpty && partition.active.firstLogNumber <= oldest {
                try rotate(partition, logNumber: logNumber)
                rotated = true
            }
        }
        if rotated { scheduler.wakeUp() }
    }

    /// Whether ``rotateWhereDue()`` would rotate something now (it then syncs
    /// the log, which may block). REQUIRES: commit leader, after a group.
    var hasRotationDue: Bool {
        !rotationCandidates.isEmpty || isOverBudgetForRotation || pinsTooManyLogSegments
    }

    /// Active and immutable memtables together past the budget, with enough
    /// in the active ones that flushing the largest helps.
    private var isOverBudgetForRotation: Bool {
        let active = counters.activeMemtableBytes.load(ordering: .relaxed)
        let immutable = counters.immutableMemtableBytes.load(ordering: .relaxed)
        return active + immutable > memtableBudgetBytes && active > memtableBudgetBytes / 4
    }

    /// More live log segments than ``StoreOptions/maxLiveLogSegments``.
    private var pinsTooManyLogSegments: Bool {
        log.liveSegmentCount > maxLiveLogSegments
    }

    /// Makes every non-empty active memtable immutable (`settle`, `flush`).
    /// Does not wake the flush thread: the caller's wait does.
    /// REQUIRES: exclusive leadership.
    func rotateAll() throws {
        let logNumber = log.currentNumber
        for partition in catalog.partitions { try rotate(partition, logNumber: logNumber) }
    }

    /// Makes a partition's active memtable immutable. REQUIRES: commit leader
    /// (or exclusive leadership, or open before the threads start).
    ///
    /// An immutable memtable is flushed — made durable in an SSTable that the
    /// manifest marks as holding every op of the partition up to its last
    /// sequence — so first the log is synced if it holds unsynced batches
    /// (sync mode `.none`, or writes with `sync: false`): otherwise power
    /// loss could keep one partition's part of a batch (in the SSTable) and
    /// lose the rest (in the unsynced log tail). Throws when that sync fails
    /// (the log is then failed).
    func rotate(_ partition: Partition, logNumber: UInt64) throws {
        let bytes = partition.active.approximateBytes
        guard bytes > 0 else { return }
        try log.syncIfNeeded()
        partition.rotate(logNumber: logNumber)
        counters.activeMemtableBytes.add(-bytes, ordering: .relaxed)
        counters.immutableMemtableBytes.add(bytes, ordering: .relaxed)
    }

    // MARK: Backpressure

    /// Backpressure before each group (leader): stall while immutable
    /// memtables exceed half the budget (so that active + immutable stay near
    /// the budget) or some partition's L0 reached the stop trigger; slow down
    /// (1 ms) past the slowdown trigger. Throws the background error, if any.
    ///
    /// While stalled, a flush or compaction that keeps failing (a full disk)
    /// refuses the group with `.unavailable` instead of waiting without end.
    func waitForBudget() throws {
        if overBudget() {
            let start = CommitClock.monotonicMicroseconds()
            defer { counters.stallMicroseconds.add(UInt64(CommitClock.monotonicMicroseconds() - start), ordering: .relaxed) }
            try scheduler.waitForBackgroundWork(while: overBudget)
        } else if counters.maxLevel0Files.load(ordering: .relaxed) >= level0SlowdownTrigger {
            counters.slowdowns.add(1, ordering: .relaxed)
            counters.stallMicroseconds.add(1000, ordering: .relaxed)
            usleep(1000)
        }
        try scheduler.throwIfFailed()
    }

    private func overBudget() -> Bool {
        counters.immutableMemtableBytes.load(ordering: .relaxed) > memtableBudgetBytes / 2
            || counters.maxLevel0Files.load(ordering: .relaxed) >= level0StopTrigger
    }

    /// Whether ``waitForBudget()`` would return at once (no stall, no
    /// slowdown) were a group to start now. Any thread.
    var admitsWithoutWaiting: Bool {
        !overBudget() && counters.maxLevel0Files.load(ordering: .relaxed) < level0SlowdownTrigger
    }

    // MARK: Invariants

    /// Checks the invariants (see the type's documentation); a violation
    /// stops the process. REQUIRES: commit leader, between groups. Costs a
    /// pass over every partition: call it from debug-only paths.
    func checkInvariants() {
        let violations = Self.invariantViolations(
            candidates: rotationCandidates.count, activeGauge: counters.activeMemtableBytes.load(ordering: .relaxed),
            activeBytes: catalog.partitions.reduce(0) { $0 + $1.active.approximateBytes })
        precondition(violations.isEmpty, "MemTableSet invariants violated: \(violations.joined(separator: "; "))")
    }

    /// The invariants broken by `candidates` rotation candidates left after
    /// a group and an active gauge of `activeGauge` over memtables of `activeBytes`.
    static func invariantViolations(candidates: Int, activeGauge: Int, activeBytes: Int) -> [String] {
        var violations: [String] = []
        if candidates != 0 { violations.append("\(candidates) rotation candidates left after the group") }
        if activeGauge != activeBytes {
            violations.append("the active memtable gauge (\(activeGauge)) differs from the memtables' bytes (\(activeBytes))")
        }
        return violations
    }
}
