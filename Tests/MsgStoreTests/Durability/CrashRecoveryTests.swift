import Foundation
import Testing
@testable import MsgStore
@testable import MsgStoreTestHelper

/// Crash recovery with real processes: a writer is killed with SIGKILL at a
/// random moment; every batch it acknowledged must be whole after reopening,
/// and no batch may be partly present.
@Suite struct CrashRecoveryTests {
    static var cycles: Int {
        ProcessInfo.processInfo.environment["MSGSTORE_CRASH_CYCLES"].flatMap(Int.init) ?? 20
    }

    @Test func killedWriterLosesNoAcknowledgedBatchAndLeavesNoPartialOne() throws {
        try crashCycles(small: false)
    }

    /// The same while flushes and compactions run all the time (tiny budgets):
    /// kills land during flush, compaction, manifest writes and log deletion.
    /// After each reopen `verify` finds the directory sound.
    @Test func killedDuringFlushAndCompactionLosesNothingAndVerifies() throws {
        try crashCycles(small: true)
    }

    /// The `LOCK` file keeps a second *process* out while the first has the store
    /// open, with a clear error; once the first is gone, the store opens.
    @Test func secondProcessCannotOpenTheStore() throws {
        let directory = TestDirectory()
        let helper = try HelperProcess(["store-writer", directory.path, "1", "1"])
        #expect(helper.wait(seconds: 30) { $0.contains { $0.hasPrefix("ack ") } })
        #expect {
            _ = try Store.open(at: directory.path, tables: crashTestTables)
        } throws: { error in
            let error = error as! StoreError
            return error.code == .locked && error.file == directory.file("LOCK") && error.description.contains("another process")
        }
        helper.kill()
        let store = try Store.open(at: directory.path, tables: crashTestTables)
        try store.close()
    }

    /// Whitebox crash points: the writer kills itself (SIGKILL) the N-th time
    /// it reaches a named point inside a flush, a compaction (mid-output
    /// too: open deletes the unfinished file), a manifest swap or a log roll
    /// — the narrow windows random kills rarely hit. After
    /// each, every acknowledged batch is whole, none is partial, `verify`
    /// finds the directory sound, and so it stays over two more reopens.
    @Test(arguments: [
        "flush-before-manifest-edit:3", "flush-after-manifest-edit:3",
        "compaction-progress:3", "compaction-before-manifest-edit:2", "compaction-after-manifest-edit:2",
        "manifest-before-current-swap:1", "log-roll-before-create:3",
    ])
    func killedAtACrashPointLosesNothing(_ point: String) throws {
        let directory = TestDirectory()
        let writers = 4, rows = 5
        let helper = try HelperProcess(["store-writer", directory.path, String(writers), String(rows), "small"],
                                       environment: ["MSGSTORE_CRASH_POINT": point])
        let signal = helper.waitForDeath(seconds: 120)
        if signal == nil { helper.kill() }
        #expect(signal == SIGKILL, "\(point): the writer did not reach the crash point")
        let lines = helper.lines
        #expect(!lines.contains { $0.hasPrefix("write failed") || $0.hasPrefix("open failed") }, "\(lines.filter { $0.contains("failed") })")
        let start = try #require(lines.first(where: { $0.hasPrefix("start ") }).flatMap({ UInt64($0.dropFirst(6)) }))
        let acked = lines.compactMap { $0.hasPrefix("ack ") ? UInt64($0.dropFirst(4)) : nil }
        #expect(!acked.isEmpty)
        let report = StoreVerifier.verify(path: directory.path)
        #expect(report.isSound, "\(point): verify found \(report.problems)")
        for round in 0..<3 {
            try checkBatches(directory: directory, small: true, start: start, acked: acked, writers: writers, rows: rows,
                             label: "\(point) reopen \(round)")
        }
    }

    /// Opens the store and checks every acknowledged batch whole and every
    /// batch after `start` all there or not at all (its mark and index entry
    /// included); closes it. Returns the flush and compaction counts.
    @discardableResult
    func checkBatches(directory: TestDirectory, small: Bool, start: UInt64, acked: [UInt64], earlier: [UInt64] = [],
                      writers: Int, rows: Int, label: String) throws -> (flushes: UInt64, compactions: UInt64) {
        let store = try Store.open(at: directory.path, tables: crashTestTables, options: small ? crashTestSmallOptions : StoreOptions())
        let batches = try store.table("batches")
        let marks = try store.table("marks")
        let byValue = try store.index("by-value", on: "marks")
        for id in earlier.suffix(200) + acked {
            for row in 0..<rows {
                #expect(try store.get(batches, crashRowKey(batch: id, row: row))?.count == 64 + row, "\(label): batch \(id) row \(row) lost")
            }
        }
        let highest = (acked.max() ?? start) + UInt64(writers) * 4 + 8
        var present = 0
        for id in (start + 1)...highest {
            let found = try (0..<rows).map { try store.get(batches, crashRowKey(batch: id, row: $0)) != nil }
            let mark = try store.get(marks, RowKey(partitionKey: withUnsafeBytes(of: id.bigEndian) { Array($0) }))
            if found.contains(true) {
                present += 1
                #expect(!found.contains(false), "\(label): batch \(id) partly present: \(found)")
                #expect(mark != nil, "\(label): batch \(id) present without its mark")
                if let mark {
                    let entries = try store.scan(byValue, partitionKey: mark, from: .at(withUnsafeBytes(of: id.bigEndian) { Array($0) }), limit: 1)
                    #expect(entries.first?.value == mark, "\(label): batch \(id) without its index entry")
                }
            } else {
                #expect(mark == nil, "\(label): mark of batch \(id) without the batch")
            }
        }
        #expect(present >= acked.count)
        let statistics = store.statistics
        try store.close()
        return (statistics.flushes, statistics.compactions)
    }

    func crashCycles(small: Bool) throws {
        let seed = testSeed()
        var random = SeededGenerator(seed: seed)
        let directory = TestDirectory()
        let writers = 4, rows = 5
        var acknowledged: [UInt64] = []
        var totalAcked = 0
        var flushes: UInt64 = 0, compactions: UInt64 = 0
        for cycle in 0..<Self.cycles {
            let helper = try HelperProcess(["store-writer", directory.path, String(writers), String(rows)] + (small ? ["small"] : []))
            // Let it start, then kill it after a random delay while it writes.
            #expect(helper.wait(seconds: 30) { $0.contains { $0.hasPrefix("ack ") } }, "cycle \(cycle): no write acknowledged")
            usleep(UInt32.random(in: 1_000...150_000, using: &random))
            helper.kill()
            let lines = helper.lines
            #expect(!lines.contains { $0.hasPrefix("write failed") || $0.hasPrefix("open failed") }, "\(lines.filter { $0.contains("failed") })")
            guard let start = lines.first(where: { $0.hasPrefix("start ") }).flatMap({ UInt64($0.dropFirst(6)) }) else {
                Issue.record("cycle \(cycle): helper printed no start line")
                return
            }
            let acked = lines.compactMap { $0.hasPrefix("ack ") ? UInt64($0.dropFirst(4)) : nil }
            totalAcked += acked.count
            acknowledged.append(contentsOf: acked)

            if small {
                let report = StoreVerifier.verify(path: directory.path)
                #expect(report.isSound, "cycle \(cycle): verify found \(report.problems)")
            }
            // Every acknowledged batch (of every cycle so far) is whole; every
            // batch of this run is all there or not there at all, index entry included.
            let counts = try checkBatches(directory: directory, small: small, start: start, acked: acked,
                                          earlier: Array(acknowledged.dropLast(acked.count)),
                                          writers: writers, rows: rows, label: "cycle \(cycle)")
            flushes += counts.flushes
            compactions += counts.compactions
        }
        if small {
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            #expect(files.contains { $0.hasSuffix(".sst") }, "no SSTable was ever written")
            // The CLI agrees: `msgstore verify` exits 0 on the directory.
            let verify = Process()
            verify.executableURL = HelperProcess.productsDirectory.appendingPathComponent("msgstore")
            verify.arguments = ["verify", directory.path]
            verify.standardOutput = FileHandle.nullDevice
            try verify.run()
            verify.waitUntilExit()
            #expect(verify.terminationStatus == 0)
        }
        print("crash test (small: \(small)): \(Self.cycles) cycles, \(totalAcked) acknowledged batches verified; flushes during checks \(flushes), compactions \(compactions)")
    }
}
