import Foundation
import Synchronization
import Testing
@testable import MsgStore

/// `close()` within a bound while background work would take far longer: a
/// running compaction or flush abandons its job at its next check (every
/// few blocks), deletes what it wrote, and leaves the manifest and its
/// inputs as they were; the reopened store has every row, and `verify`
/// finds it sound with no stray SSTable.
@Suite struct ShutdownTests {
    static let tables = [TableSchema(name: "t", partitionCount: 1)]  // one compaction holds every row
    static let partitionKeys: [[UInt8]] = (0..<40).map { Array("user\($0)".utf8) }

    static func sortKey(_ n: UInt32) -> [UInt8] { withUnsafeBytes(of: n.bigEndian) { Array($0) } }
    static func value(_ pk: [UInt8], _ n: UInt32, round: Int) -> [UInt8] {
        pk + sortKey(n) + [UInt8](repeating: UInt8(truncatingIfNeeded: round), count: 32)
    }

    static func options() -> StoreOptions {
        var options = StoreOptions()
        options.sync = .none
        options.memtableBytes = 16 << 20  // flushed only when the test says so
        options.memtableBudgetBytes = 256 << 20
        options.level0CompactionTrigger = 4
        options.dictionaryBytes = 0
        options.preallocateLog = false
        options.blockCacheBytes = 0
        return options
    }

    /// Writes `rowsPerKey` rows under every partition key (round `round`'s values).
    static func writeRound(_ store: Store, round: Int, rowsPerKey: UInt32) throws {
        let table = try store.table("t")
        for pk in partitionKeys {
            var batch = WriteBatch()
            for n in 0..<rowsPerKey {
                batch.put(table, RowKey(partitionKey: pk, sortKey: sortKey(n)), value: value(pk, n, round: round))
            }
            try store.write(batch)
        }
    }

    /// Every row has round `round`'s value.
    static func check(_ store: Store, round: Int, rowsPerKey: UInt32) throws -> [String] {
        let table = try store.table("t")
        var problems: [String] = []
        for pk in partitionKeys {
            let rows = try store.scan(table, partitionKey: pk, limit: 100_000)
            let expected = (0..<rowsPerKey).map { Row(sortKey: sortKey($0), value: value(pk, $0, round: round)) }
            if rows != expected { problems.append("\(String(decoding: pk, as: UTF8.self)): \(rows.count) rows, expected \(expected.count) of round \(round)") }
        }
        return problems
    }

    /// What `verify` says of the closed directory: problems, and whether
    /// SSTables the manifest does not list were left behind.
    static func verifyClosed(_ directory: TestDirectory) -> (problems: [VerificationReport.Problem], stray: [String]) {
        let report = StoreVerifier.verify(path: directory.path)
        return (report.problems, report.notes.filter { $0.contains("not in the manifest") })
    }

    static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            if Date() > deadline { return false }
            usleep(1_000)
        }
        return true
    }

    /// A compaction slowed to 20 ms per 64 entries (20,000 entries: over 6 s)
    /// is running; `close()` returns in well under 2 s. Before compactions
    /// could stop, `close()` waited for the whole job.
    @Test func closeAbandonsALongCompaction() throws {
        let directory = TestDirectory()
        let rowsPerKey: UInt32 = 125  // × 40 keys = 5,000 rows per L0 file; 4 files
        let store = try Store.open(at: directory.path, tables: Self.tables, options: Self.options())
        for round in 0..<3 {
            try Self.writeRound(store, round: round, rowsPerKey: rowsPerKey)
            try store.flush()
        }
        let progressed = Atomic<Int>(0)
        store.engine.testHooks.set(.compactionProgress) {
            progressed.add(1, ordering: .relaxed)
            usleep(20_000)
        }
        try Self.writeRound(store, round: 3, rowsPerKey: rowsPerKey)
        try store.flush()  // the fourth L0 file: the compaction starts
        #expect(Self.waitUntil(seconds: 20) { progressed.load(ordering: .relaxed) >= 2 }, "the compaction never started")
        #expect(store.statistics.compactions == 0)

        let start = Date()
        try store.close()
        let elapsed = Date().timeIntervalSince(start)
        let steps = progressed.load(ordering: .relaxed)
        print("close during a compaction: returned after \(Int(elapsed * 1000)) ms; the compaction had passed \(steps) of its 312 checks")
        #expect(elapsed < 2, "close() took \(elapsed) s while a compaction ran")
        #expect(steps < 200, "the compaction was not cut short (\(steps) checks)")

        let closed = Self.verifyClosed(directory)
        #expect(closed.problems.isEmpty, "\(closed.problems)")
        #expect(closed.stray.isEmpty, "the abandoned compaction left SSTables behind: \(closed.stray)")

        let reopened = try Store.open(at: directory.path, tables: Self.tables, options: Self.options())
        let problems = try Self.check(reopened, round: 3, rowsPerKey: rowsPerKey)
        #expect(problems.isEmpty, "\(problems.prefix(3))")
        _ = try reopened.settle()  // the compaction, now at full speed
        #expect(try Self.check(reopened, round: 3, rowsPerKey: rowsPerKey).isEmpty)
        try reopened.close()
        #expect(StoreVerifier.verify(path: directory.path).isSound)
    }

    /// A flush slowed the same way is running; `close()` returns at once and
    /// the memtable's rows come back from the log at the next open.
    @Test func closeAbandonsALongFlushAndTheLogKeepsItsRows() throws {
        let directory = TestDirectory()
        let rowsPerKey: UInt32 = 500  // 20,000 rows in one memtable
        let store = try Store.open(at: directory.path, tables: Self.tables, options: Self.options())
        try Self.writeRound(store, round: 1, rowsPerKey: rowsPerKey)
        let progressed = Atomic<Int>(0)
        store.engine.testHooks.set(.flushProgress) {
            progressed.add(1, ordering: .relaxed)
            usleep(20_000)
        }
        let flushing = DispatchGroup()
        flushing.enter()
        Thread.detachNewThread {
            defer { flushing.leave() }
            try? store.flush()  // returns (or throws) once the store closes
        }
        #expect(Self.waitUntil(seconds: 20) { progressed.load(ordering: .relaxed) >= 2 }, "the flush never started")

        let start = Date()
        try store.close()
        let elapsed = Date().timeIntervalSince(start)
        print("close during a flush: returned after \(Int(elapsed * 1000)) ms")
        #expect(elapsed < 2, "close() took \(elapsed) s while a flush ran")
        #expect(store.statistics.flushes == 0, "the flush was not cut short")
        flushing.wait()

        let closed = Self.verifyClosed(directory)
        #expect(closed.problems.isEmpty, "\(closed.problems)")
        #expect(closed.stray.isEmpty, "the abandoned flush left an SSTable behind: \(closed.stray)")
        let reopened = try Store.open(at: directory.path, tables: Self.tables, options: Self.options())
        let problems = try Self.check(reopened, round: 1, rowsPerKey: rowsPerKey)
        #expect(problems.isEmpty, "\(problems.prefix(3))")
        try reopened.close()
        #expect(StoreVerifier.verify(path: directory.path).isSound)
    }

    /// Writers stopped by the L0 stop trigger wait for a compaction slowed as
    /// above; `close()` abandons the compaction, lets the stalled write
    /// through (it is acknowledged, and there after reopening) and returns
    /// within the bound. Before, close first waited for the queued writes,
    /// and so for the whole compaction.
    @Test func closeReleasesWritersStalledBehindALongCompaction() throws {
        let directory = TestDirectory()
        let rowsPerKey: UInt32 = 125  // 5,000 rows per L0 file
        var options = Self.options()
        options.level0CompactionTrigger = 2
        options.level0SlowdownTrigger = 3
        options.level0StopTrigger = 3
        let store = try Store.open(at: directory.path, tables: Self.tables, options: options)
        let progressed = Atomic<Int>(0)
        store.engine.testHooks.set(.compactionProgress) {
            progressed.add(1, ordering: .relaxed)
            usleep(40_000)
        }
        try Self.writeRound(store, round: 0, rowsPerKey: rowsPerKey)
        try store.flush()
        try Self.writeRound(store, round: 1, rowsPerKey: rowsPerKey)
        try store.flush()  // two L0 files: the compaction starts (156 checks × 40 ms)
        #expect(Self.waitUntil(seconds: 20) { progressed.load(ordering: .relaxed) >= 1 }, "the compaction never started")
        try Self.writeRound(store, round: 2, rowsPerKey: rowsPerKey)
        try store.flush()  // a third L0 file: writers stop until the compaction is done
        #expect(store.statistics.levelFileCounts[0] == 3)

        let table = try store.table("t")
        let written = Mutex<Result<CommitReceipt, any Error>?>(nil)
        let writing = DispatchGroup()
        writing.enter()
        Thread.detachNewThread {
            defer { writing.leave() }
            var batch = WriteBatch()
            batch.put(table, RowKey(partitionKey: Array("late".utf8), sortKey: Self.sortKey(1)), value: Array("stalled".utf8))
            let result = Result { try store.write(batch) }
            written.withLock { $0 = result }
        }
        usleep(200_000)  // (the stall time is counted only when a stall ends)
        let stalled = written.withLock { $0 == nil }
        #expect(stalled, "the write was not stalled")

        let start = Date()
        try store.close()
        let elapsed = Date().timeIntervalSince(start)
        print("close with a stalled writer: returned after \(Int(elapsed * 1000)) ms; the compaction had passed \(progressed.load(ordering: .relaxed)) of its 156 checks")
        #expect(elapsed < 2, "close() took \(elapsed) s while a writer waited for a compaction")
        writing.wait()
        let outcome = written.withLock { $0 }
        guard case .success = outcome else {
            Issue.record("the stalled write failed: \(String(describing: outcome))")
            return
        }
        #expect(Self.verifyClosed(directory).stray.isEmpty)
        let reopened = try Store.open(at: directory.path, tables: Self.tables, options: options)
        #expect(try reopened.get(table, RowKey(partitionKey: Array("late".utf8), sortKey: Self.sortKey(1))) == Array("stalled".utf8))
        let problems = try Self.check(reopened, round: 2, rowsPerKey: rowsPerKey)
        #expect(problems.isEmpty, "\(problems.prefix(3))")
        try reopened.close()
        #expect(StoreVerifier.verify(path: directory.path).isSound)
    }

    /// `close()` while another thread leads (here `flush()`'s exclusive
    /// leadership, held up in the log sync before the rotation): once that
    /// leadership ends, the log thread must be woken to exit. Before, nothing
    /// woke it and `close()` hung for good.
    @Test func closeWhileAnotherThreadLeadsDoesNotHang() throws {
        let directory = TestDirectory()
        let fileSystem = FaultInjectingFileSystem()
        let store = try Store.open(at: directory.path, tables: Self.tables, options: Self.options(), fileSystem: fileSystem)
        try Self.writeRound(store, round: 1, rowsPerKey: 10)  // unsynced (sync none): the rotation syncs the log
        fileSystem.holdSyncs(containing: ".log")
        let flushing = DispatchGroup()
        flushing.enter()
        Thread.detachNewThread {
            defer { flushing.leave() }
            try? store.flush()
        }
        #expect(Self.waitUntil(seconds: 20) { fileSystem.heldSyncs == 1 }, "the flush never reached the log sync")
        let closed = Atomic<Bool>(false)
        Thread.detachNewThread {
            try? store.close()
            closed.store(true, ordering: .releasing)
        }
        usleep(100_000)
        fileSystem.holdSyncs(containing: nil)
        let returned = Self.waitUntil(seconds: 10) { closed.load(ordering: .acquiring) }
        #expect(returned, "close() hung after the other leader let go")
        guard returned else { return }  // (the closing thread is stuck: leave it)
        flushing.wait()
        let reopened = try Store.open(at: directory.path, tables: Self.tables, options: Self.options())
        #expect(try Self.check(reopened, round: 1, rowsPerKey: 10).isEmpty)
        try reopened.close()
    }
}
