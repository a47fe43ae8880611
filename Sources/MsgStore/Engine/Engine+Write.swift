#if canImport(Glibc)
import Glibc
#endif

/// The commit pipeline's view of the engine: index maintenance, applying
/// batches to memtables, memtable rotation, and write backpressure.
extension Engine {
    func apply(_ record: UnsafeRawBufferPointer) throws {
        let crossed = try Engine.apply(record, tables: tablesById, skipping: nil, file: nil, offset: nil,
                                       memtableBytes: options.memtableBytes, counters: counters, rowCache: rowCache)
        rotationCandidates.append(contentsOf: crossed)
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

    func expandIndexes(_ batch: inout WriteBatch, overlay: inout IndexOverlay) throws {
        let original = batch.bytes
        var additions: [(kind: InternalKey.Kind, tableId: UInt32, userKey: [UInt8], value: [UInt8]?)] = []
        var failure: (any Error)?
        _ = original.withUnsafeBytes { raw in
            BatchDecoder.forEachOp(raw) { op in
                guard failure == nil, let table = tablesById[op.tableId], !table.indexes.isEmpty else { return }
                guard let row = RowKeyCoding.decode(op.userKey) else {
                    failure = StoreError(.invalidArgument, "malformed row key in batch")
                    return
                }
                let userKey = Array(op.userKey)
                let newValue: [UInt8]? = op.kind == .value ? Array(op.value) : nil
                var oldValue: [UInt8]?
                if !op.isInsert {
                    if let pending = overlay.value(table: op.tableId, userKey: userKey) {
                        oldValue = pending
                    } else {
                        do { oldValue = try get(table: table, userKey: userKey) } catch { failure = error; return }
                    }
                }
                overlay.record(table: op.tableId, userKey: userKey, value: newValue)
                for index in table.indexes {
                    let oldKey = oldValue.flatMap { index.schema.key(row, $0) }
                    let newKey = newValue.flatMap { index.schema.key(row, $0) }
                    let entryValue: [UInt8]? = newValue.map { index.schema.kind == .covering ? $0 : IndexReference.encode(row) }
                    if let oldKey, oldKey != newKey {
                        additions.append((.deletion, index.table.handle.id, RowKeyCoding.encode(oldKey), nil))
                    }
                    if let newKey, let entryValue {
                        if oldKey == newKey && index.schema.kind == .referencing { continue }
                        additions.append((.value, index.table.handle.id, RowKeyCoding.encode(newKey), entryValue))
                    }
                }
            }
        }
        if let failure { throw failure }
        for addition in additions {
            batch.appendRaw(kind: addition.kind, tableId: addition.tableId, userKey: addition.userKey, value: addition.value)
        }
    }

    /// After each group (leader): roll the log when full; rotate memtables that
    /// are full, over the memory budget, or pinning too many log segments.
    /// A roll whose new segment cannot be created (EMFILE, ENOSPC) is tried
    /// again later with backoff while the current segment goes on; a failed
    /// close of the current segment fails the log (returned).
    func afterGroup() -> StoreError? {
        let wal = pipeline.logForLeader
        if wal.isFull && CommitClock.monotonicMicroseconds() >= rollRetry.notBefore {
            do {
                try rollLog()
            } catch let error as StoreError where error.code == .unavailable {
                rollRetry.failed(error)
            } catch {
                return error as? StoreError ?? StoreError(.io, "log roll failed: \(error)")
            }
        }
        do {
            try rotateWhereDue()
        } catch {
            return error as? StoreError ?? StoreError(.io, "log sync before a memtable rotation failed: \(error)")
        }
        return nil
    }

    /// Rotates memtables that are full, over the memory budget, or pinning
    /// too many log segments. REQUIRES: commit leader.
    private func rotateWhereDue() throws {
        let logNumber = currentLogNumber.load(ordering: .relaxed)
        var rotated = false
        defer { rotationCandidates.removeAll(keepingCapacity: true) }
        for partition in rotationCandidates where partition.active.approximateBytes >= options.memtableBytes {
            try rotate(partition, logNumber: logNumber)
            rotated = true
        }

        let active = counters.activeMemtableBytes.load(ordering: .relaxed)
        let immutable = counters.immutableMemtableBytes.load(ordering: .relaxed)
        if active + immutable > options.memtableBudgetBytes && active > options.memtableBudgetBytes / 4 {
            // Over budget: flush the largest active memtable early.
            if let largest = partitions.max(by: { $0.active.approximateBytes < $1.active.approximateBytes }),
               !largest.active.isEmpty {
                try rotate(largest, logNumber: logNumber)
                rotated = true
            }
        }
        let liveCount = liveLogCount.load(ordering: .relaxed)
        let oldest = oldestLiveLog.load(ordering: .relaxed)
        if liveCount > options.maxLiveLogSegments, liveCount > 0 {
            for partition in partitions where !partition.active.isEmpty && partition.active.firstLogNumber <= oldest {
                try rotate(partition, logNumber: logNumber)
                rotated = true
            }
        }
        if rotated { versionLock.withLock { backgroundWakeup.broadcast() } }
    }

    /// Starts a new log segment. Throws `.unavailable` when the new segment
    /// could not be created (transient: nothing changed), any other error when
    /// the log failed. REQUIRES: commit leader (or exclusive leadership).
    func rollLog() throws {
        let number = newFileNumber()
        switch try pipeline.logForLeader.roll(to: number, beforeCreate: { testHooks.run(.logRollBeforeCreate) }) {
        case .rolled:
            currentLogNumber.store(number, ordering: .releasing)
            versionLock.withLock { liveLogs.append(number) }
            rollRetry.succeeded()
        case .deferred(let error):
            throw StoreError(.unavailable, "a new log segment could not be created (will retry): \(error)",
                             file: error.file, errno: error.errno)
        }
    }

    /// Makes a partition's active memtable immutable. REQUIRES: commit leader (or exclusive leadership).
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
        try pipeline.logForLeader.syncIfNeeded()
        partition.rotate(logNumber: logNumber)
        counters.activeMemtableBytes.add(-bytes, ordering: .relaxed)
        counters.immutableMemtableBytes.add(bytes, ordering: .relaxed)
    }

    /// Backpressure before each group: stall while immutable memtables exceed
    /// half the budget (so that active + immutable stay near the budget) or
    /// some partition's L0 reached the stop trigger; slow down
    /// (1 ms) past the slowdown trigger. Throws the background error, if any.
    ///
    /// While stalled, a flush or compaction that keeps failing (a full disk)
    /// refuses the group with `.unavailable` instead of waiting without end.
    func waitForMemoryBudget() throws {
        func overBudget() -> Bool {
            counters.immutableMemtableBytes.load(ordering: .relaxed) > options.memtableBudgetBytes / 2
                || counters.maxLevel0Files.load(ordering: .relaxed) >= options.level0StopTrigger
        }
        if overBudget() {
            let start = CommitClock.monotonicMicroseconds()
            defer { counters.stallMicroseconds.add(UInt64(CommitClock.monotonicMicroseconds() - start), ordering: .relaxed) }
            try versionLock.withLock {
                while overBudget() && backgroundError == nil && !stopping {
                    if let transient = flushRetry.lastError ?? compactionRetry.lastError {
                        throw StoreError(.unavailable, "writes wait for background work that keeps failing: \(transient)",
                                         file: transient.file, errno: transient.errno)
                    }
                    backgroundWakeup.broadcast()
                    progressWakeup.wait(seconds: 0.1)
                }
                if let backgroundError { throw backgroundError }
            }
        } else if counters.maxLevel0Files.load(ordering: .relaxed) >= options.level0SlowdownTrigger {
            counters.slowdowns.add(1, ordering: .relaxed)
            counters.stallMicroseconds.add(1000, ordering: .relaxed)
            usleep(1000)
        }
        if hasBackgroundError.load(ordering: .acquiring), let error = versionLock.withLock({ backgroundError }) { throw error }
    }
}

/// Values written by the earlier batches of a commit group, which index
/// maintenance must see though they are not in the memtables yet.
struct IndexOverlay {
    private var values: [[UInt8]: [UInt8]?] = [:]

    /// `.some(nil)` when the row was deleted in this group; `nil` when the group did not touch it.
    func value(table: UInt32, userKey: [UInt8]) -> [UInt8]?? {
        values[Self.key(table, userKey)]
    }

    mutating func record(table: UInt32, userKey: [UInt8], value: [UInt8]?) {
        values[Self.key(table, userKey)] = .some(value)
    }

    private static func key(_ table: UInt32, _ userKey: [UInt8]) -> [UInt8] {
        var key: [UInt8] = []
        key.appendFixed32(table)
        key.append(contentsOf: userKey)
        return key
    }
}

extension RowKeyCoding {
    /// The user key of a row.
    static func encode(_ key: RowKey) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(key.partitionKey.count + key.sortKey.count + 2)
        key.partitionKey.withUnsafeBytes { pk in
            key.sortKey.withUnsafeBytes { sk in append(partitionKey: pk, sortKey: sk, to: &bytes) }
        }
        return bytes
    }

    /// The row key of a user key, or nil if malformed.
    static func decode(_ userKey: UnsafeRawBufferPointer) -> RowKey? {
        var cursor = ByteCursor(userKey)
        guard let partition = cursor.readLengthPrefixed() else { return nil }
        return RowKey(partitionKey: Array(partition), sortKey: Array(userKey[cursor.offset...]))
    }
}
