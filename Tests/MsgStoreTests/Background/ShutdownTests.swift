import Foundation
import Synchronization
import Testing
@testable import MsgStore

/// `close()` returns within a bound, and the reopened store has every row.
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
