import Foundation
import Synchronization
import Testing
@testable import MsgStore

/// Deterministic regression tests for defects that lost acknowledged writes,
/// resurrected deleted rows or broke running reads. Each one failed on the
/// code before its fix (docs/reliability.md lists them).
@Suite(.serialized) struct DurabilityRegressionTests {
    static let kvOnly = [TableSchema(name: "kv", partitionCount: 1)]

    static func key(_ i: Int) -> RowKey {
        RowKey(partitionKey: bytes("p"), sortKey: bytes(String(format: "k%06d", i)))
    }

    /// Defect: a file number handed out after the last manifest edit (an
    /// SSTable of a flush still in progress, then a log roll) was handed out
    /// again after a crash — the new log reused the rolled log's number and
    /// was created truncated, wiping the only copy of acknowledged writes.
    @Test func fileNumbersHandedOutBeforeACrashAreNeverReused() throws {
        let directory = TestDirectory()
        let gate = FaultInjectingFileSystem()
        gate.holdSyncs(containing: ".sst")
        var options = StoreOptions()
        options.walSegmentBytes = 48 << 10
        options.memtableBytes = 16 << 10
        options.preallocateLog = false
        let store = try Store.open(at: directory.path, tables: Self.kvOnly, options: options, fileSystem: gate)
        defer {
            gate.holdSyncs(containing: nil)
            try? store.close()
        }
        let kv = try store.table("kv")
        var acked: [Int: [UInt8]] = [:]
        var blockedTable: UInt64?
        func highestLog() throws -> UInt64 {
            try FileManager.default.contentsOfDirectory(atPath: directory.path).compactMap(StoreFileNames.logNumber).max() ?? 0
        }
        var afterRoll = 0
        for i in 0..<5_000 {
            var batch = WriteBatch()
            let value = [UInt8](repeating: UInt8(i % 251), count: 200)
            batch.put(kv, Self.key(i), value: value)
            try store.write(batch, sync: true)
            acked[i] = value
            if blockedTable == nil, gate.heldSyncs > 0 {
                // The flush's SSTable: the only one in the directory while its sync is held.
                blockedTable = try FileManager.default.contentsOfDirectory(atPath: directory.path).compactMap(StoreFileNames.tableNumber).max()
            }
            // Some acknowledged writes in the rolled-to segment, then stop.
            if let blockedTable, try highestLog() > blockedTable {
                afterRoll += 1
                if afterRoll == 50 { break }
            }
        }
        let table = try #require(blockedTable, "the flush never reached its SSTable sync")
        #expect(try highestLog() > table, "the log never rolled past the flush's SSTable number")

        // kill -9 now: the flush's manifest edit never landed.
        let image = TestDirectory()
        try crashImage(of: directory.path, into: image)
        // Reopened with large memtables: the replayed rows stay in memory
        // (and in the log) instead of being flushed at once.
        var reopenOptions = options
        reopenOptions.memtableBytes = 4 << 20
        for round in 0..<3 {  // after the crash, then after clean closes
            let reopened = try Store.open(at: image.path, tables: Self.kvOnly, options: reopenOptions)
            let kvAgain = try reopened.table("kv")
            var missing = 0
            for (i, value) in acked where try reopened.get(kvAgain, Self.key(i)) != value { missing += 1 }
            #expect(missing == 0, "round \(round): \(missing) of \(acked.count) acknowledged rows are gone")
            try reopened.close()
        }
    }

    /// Defect: compaction dropped the tombstones of the overlapping next-level
    /// files when the *inputs'* range overlapped no deeper level, though a
    /// deeper level still held older values of those keys: deleted rows came back.
    @Test func tombstonesAreKeptWhileADeeperLevelHoldsTheKey() throws {
        let directory = TestDirectory()
        var options = StoreOptions()
        options.sync = .none
        options.targetFileBytes = 256 << 10  // one output file per compaction
        options.levelBaseBytes = 4 << 10
        options.levelMultiplier = 2
        options.dictionaryBytes = 0
        options.rowCacheBytes = 0
        let store = try Store.open(at: directory.path, tables: Self.kvOnly, options: options)
        let kv = try store.table("kv")
        var generator = SeededGenerator(seed: 20_261_129)
        func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) } }

        // 1. Old rows 0..<1000, pushed deep by settling.
        var old = WriteBatch()
        for i in 0..<1_000 { old.put(kv, Self.key(i), value: random(64)) }
        try store.write(old)
        try store.settle()
        // 2. Delete the last 100 old rows and add new rows after them: one
        //    small file (tombstones + new rows) lands a level above the old data.
        var deletes = WriteBatch()
        for i in 900..<1_000 { deletes.delete(kv, Self.key(i)) }
        for i in 1_000..<1_050 { deletes.put(kv, Self.key(i), value: random(64)) }
        try store.write(deletes)
        try store.settle()
        // 3. A large row among the new ones: its level overflows, and it is
        //    compacted into the file holding the tombstones; no deeper level
        //    overlaps the input (one new key), but deeper levels hold 900..<1000.
        var big = WriteBatch()
        big.put(kv, Self.key(1_025), value: random(6_000))
        try store.write(big)
        try store.settle()

        var resurrected = 0
        for i in 900..<1_000 where try store.get(kv, Self.key(i)) != nil { resurrected += 1 }
        #expect(resurrected == 0, "\(resurrected) deleted rows read back (levels: \(store.statistics.levelFileCounts))")
        let scanned = try store.scan(kv, partitionKey: bytes("p"), limit: .max)
        #expect(scanned.count == 950)
        try store.close()
    }

    /// Defect: a scan did not keep its SSTables alive; a compaction that
    /// replaced them closed and unlinked the files under the running scan.
    @Test func aScanKeepsItsTablesAliveAcrossACompaction() throws {
        let directory = TestDirectory()
        var options = StoreOptions()
        options.sync = .none
        options.level0CompactionTrigger = 100  // nothing compacts until settle
        options.rowCacheBytes = 0
        options.blockCacheBytes = 0
        let store = try Store.open(at: directory.path, tables: Self.kvOnly, options: options)
        let kv = try store.table("kv")
        // Three L0 files, each with every third key.
        for part in 0..<3 {
            var batch = WriteBatch()
            for i in stride(from: part, to: 3_000, by: 3) {
                batch.put(kv, Self.key(i), value: bytes("value-\(i)"))
            }
            try store.write(batch)
            try store.flush()
        }
        var seen = 0
        var settled = false
        try store.withUnsafeRows(kv, partitionKey: bytes("p")) { sortKey, value in
            #expect(Array(sortKey) == bytes(String(format: "k%06d", seen)))
            #expect(Array(value) == bytes("value-\(seen)"))
            seen += 1
            if !settled && seen == 10 {
                settled = true
                _ = try store.settle()  // compacts the three L0 files away under the scan
            }
            return true
        }
        #expect(seen == 3_000)
        try store.close()
    }

    /// Defect: after a failed log write the group's framed bytes stayed
    /// buffered, and `close` wrote and synced them: a write reported as failed
    /// became durable (a client that retried got a duplicate).
    @Test func aWriteReportedFailedNeverBecomesDurable() throws {
        let directory = TestDirectory()
        let faults = FaultInjectingFileSystem()
        var options = StoreOptions()
        options.preallocateLog = false
        let store = try Store.open(at: directory.path, tables: Self.kvOnly, options: options, fileSystem: faults)
        let kv = try store.table("kv")
        var first = WriteBatch()
        first.put(kv, Self.key(1), value: bytes("acknowledged"))
        try store.write(first, sync: true)
        faults.failWrites(containing: ".log")
        var second = WriteBatch()
        second.put(kv, Self.key(2), value: bytes("reported failed"))
        #expect(throws: StoreError.self) { try store.write(second, sync: true) }
        faults.failWrites(containing: nil)
        // Read-only now: later writes are refused with `unavailable`, reads go on.
        #expect(store.writeRefusal?.code == .unavailable)
        #expect(try store.get(kv, Self.key(1)) == bytes("acknowledged"))
        try? store.close()

        let reopened = try Store.open(at: directory.path, tables: Self.kvOnly, options: options)
        let kvAgain = try reopened.table("kv")
        #expect(try reopened.get(kvAgain, Self.key(1)) == bytes("acknowledged"))
        #expect(try reopened.get(kvAgain, Self.key(2)) == nil, "a write reported as failed was made durable")
        #expect(reopened.writeRefusal == nil)
        try reopened.close()
    }

    /// Defect: when the log roll after a group failed (EMFILE creating the
    /// next segment), the group's writers were told their writes failed
    /// though they were durable and visible, and the store refused every
    /// write for good. Now the roll is retried and nothing is refused.
    @Test func aFailedLogRollNeitherFailsDurableWritesNorPoisonsTheStore() throws {
        let directory = TestDirectory()
        let faults = FaultInjectingFileSystem()
        var options = StoreOptions()
        options.walSegmentBytes = 16 << 10
        options.preallocateLog = false
        let store = try Store.open(at: directory.path, tables: Self.kvOnly, options: options, fileSystem: faults)
        let kv = try store.table("kv")
        faults.failOpens(containing: ".log")
        var acked: [Int: [UInt8]] = [:]
        for i in 0..<200 {  // ~40 KiB: past the segment size while no segment can be created
            var batch = WriteBatch()
            let value = [UInt8](repeating: UInt8(i % 200), count: 200)
            batch.put(kv, Self.key(i), value: value)
            try store.write(batch, sync: true)
            acked[i] = value
        }
        faults.failOpens(containing: nil)
        usleep(2_100_000)  // past the roll's backoff (at most 2 s)
        for i in 200..<300 {
            var batch = WriteBatch()
            let value = [UInt8](repeating: UInt8(i % 200), count: 200)
            batch.put(kv, Self.key(i), value: value)
            try store.write(batch, sync: true)
            acked[i] = value
        }
        #expect(store.writeRefusal == nil)
        #expect(store.statistics.liveLogSegments >= 2, "the roll was never retried")
        try store.close()
        let reopened = try Store.open(at: directory.path, tables: Self.kvOnly, options: options)
        let kvAgain = try reopened.table("kv")
        for (i, value) in acked { #expect(try reopened.get(kvAgain, Self.key(i)) == value) }
        try reopened.close()
    }

    /// Defect: memtables replayed at open were not counted, so budgets and
    /// stalls acted late for the life of the process.
    @Test func replayedMemtablesCountAgainstTheBudget() throws {
        let directory = TestDirectory()
        var options = StoreOptions()
        options.sync = .none
        do {
            let store = try Store.open(at: directory.path, tables: Self.kvOnly, options: options)
            let kv = try store.table("kv")
            var batch = WriteBatch()
            for i in 0..<500 { batch.put(kv, Self.key(i), value: [UInt8](repeating: 7, count: 300)) }
            try store.write(batch)
            #expect(store.statistics.activeMemtableBytes > 150_000)
            try store.close()  // memtables are not flushed: the log holds them
        }
        let reopened = try Store.open(at: directory.path, tables: Self.kvOnly, options: options)
        let statistics = reopened.statistics
        #expect(statistics.activeMemtableBytes + statistics.immutableMemtableBytes > 150_000,
                "replayed memtables are not counted: \(statistics.activeMemtableBytes)")
        try reopened.close()
    }

    /// Defect: finished commit requests kept their batch bytes until 1,024
    /// more were done (hundreds of MB under fan-out).
    @Test func finishedCommitsReleaseTheirBatches() async throws {
        let directory = TestDirectory()
        var options = StoreOptions()
        options.sync = .none
        let store = try Store.open(at: directory.path, tables: Self.kvOnly, options: options)
        let kv = try store.table("kv")
        for i in 0..<50 {
            var batch = WriteBatch()
            batch.put(kv, Self.key(i), value: [UInt8](repeating: 1, count: 10_000))
            try await store.write(batch)
        }
        #expect(store.engine.pipeline.finishedRequestBytes == 0)
        try await store.close()
    }

    /// Defect: a point lookup took its read view before its snapshot; a
    /// memtable rotation and a commit of the key in between put the new value
    /// in a memtable the view did not hold, and the old value was cached
    /// under the new snapshot — stale for good (a block missed, a removed
    /// member still allowed).
    @Test func aLookupRacingARotationNeverCachesAStaleRow() throws {
        let directory = TestDirectory()
        var options = StoreOptions()
        options.sync = .none
        let store = try Store.open(at: directory.path, tables: [TableSchema(name: "kv", partitionCount: 1, cachesRows: true)],
                                   options: options)
        let kv = try store.table("kv")
        var first = WriteBatch()
        first.put(kv, Self.key(1), value: bytes("old"))
        try store.write(first)

        let inView = DispatchSemaphore(value: 0)
        let proceed = DispatchSemaphore(value: 0)
        let once = Mutex(false)
        store.engine.testHooks.set(.afterReadView) {
            guard once.withLock({ let first = !$0; $0 = true; return first }) else { return }
            inView.signal()
            proceed.wait()
        }
        let done = DispatchSemaphore(value: 0)
        let reader = Thread {
            _ = try? store.get(kv, Self.key(1))
            done.signal()
        }
        reader.start()
        inView.wait()
        try store.flush()  // the reader's memtable becomes immutable and is flushed
        var second = WriteBatch()
        second.put(kv, Self.key(1), value: bytes("new"))
        try store.write(second)  // lands in a memtable the reader's view lacks
        proceed.signal()
        done.wait()
        store.engine.testHooks.set(.afterReadView, nil)
        #expect(try store.get(kv, Self.key(1)) == bytes("new"), "a stale row was cached")
        try store.close()
    }

    /// Defect: invalidated row-cache entries left their key in the eviction
    /// order for good (a leak under churn), and eviction was FIFO.
    @Test func rowCacheSlotsStayBoundedUnderChurn() {
        let cache = RowCache(capacityBytes: 1 << 20, shardCount: 1)
        for round in 0..<20_000 {
            let key = bytes("key-\(round % 100)")
            cache.insert(table: 1, userKey: key, .value([1, 2, 3]), snapshot: UInt64(round))
            key.withUnsafeBytes { cache.invalidate(table: 1, userKey: $0, sequence: UInt64(round)) }
        }
        #expect(cache.occupancy.entries == 0)
        #expect(cache.occupancy.slots <= 1, "slots: \(cache.occupancy.slots)")
        // CLOCK: a key read since the last sweep survives eviction; cold keys go.
        let small = RowCache(capacityBytes: 20 * 100, shardCount: 1)
        small.insert(table: 1, userKey: bytes("hot"), .value([0]), snapshot: 0)
        for i in 0..<200 {
            _ = small.lookup(table: 1, userKey: bytes("hot"))
            small.insert(table: 1, userKey: bytes("cold-\(i)"), .value([0]), snapshot: 0)
        }
        #expect(small.lookup(table: 1, userKey: bytes("hot")) != nil, "a hot key was evicted")
        #expect(small.lookup(table: 1, userKey: bytes("cold-0")) == nil)
    }
}
