import Foundation
import Synchronization
import Testing
@testable import MsgStore
@testable import MsgStoreTestHelper

/// Compaction against a model: random puts, deletes and overwrites shaped
/// like a messaging workload (keys appended in order, old runs deleted, some
/// rewritten) over tiny files and levels, so that data moves through L0…L5
/// many times; after every compaction (and every `settle`) every row read
/// back — by `get` and by `scan` — must be the model's. And scans that run
/// while compactions replace the files under them must neither fail nor see
/// anything but their snapshot.
@Suite struct CompactionModelTests {
    static func options() -> StoreOptions {
        var options = StoreOptions.tinyLSM(memtableBudgetBytes: 32 << 10)
        options.blockCacheBytes = 0  // every block read goes to its file
        options.rowCacheBytes = 0
        return options
    }

    static let partitionKeys: [[UInt8]] = (0..<3).map { Array("inbox\($0)".utf8) }
    static let tables = [TableSchema(name: "t", partitionCount: 2)]

    static func sortKey(_ n: UInt32) -> [UInt8] { withUnsafeBytes(of: n.bigEndian) { Array($0) } }

    /// `model[pk]`: sort key number → value.
    typealias Model = [[UInt8]: [UInt32: [UInt8]]]

    static func compare(_ store: Store, _ model: Model, _ what: String) throws -> [String] {
        let table = try store.table("t")
        var problems: [String] = []
        for pk in partitionKeys {
            let expected = (model[pk] ?? [:]).sorted { $0.key < $1.key }
            let rows = try store.scan(table, partitionKey: pk, limit: 1_000_000)
            if rows.map(\.sortKey) != expected.map({ sortKey($0.key) }) || rows.map(\.value) != expected.map(\.value) {
                let got = Set(rows.map(\.sortKey))
                let want = Set(expected.map { sortKey($0.key) })
                let number = { (key: [UInt8]) in key.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
                let back = got.subtracting(want).map(number).sorted()
                let lost = want.subtracting(got).map(number).sorted()
                problems.append("\(what): scan of \(String(decoding: pk, as: UTF8.self)): \(rows.count) rows, model \(expected.count); "
                                + "present but deleted/never written: \(back.prefix(12))\(back.count > 12 ? "… (\(back.count))" : ""); "
                                + "missing: \(lost.prefix(12))\(lost.count > 12 ? "… (\(lost.count))" : "")")
            }
            for (n, value) in expected {
                guard try store.get(table, RowKey(partitionKey: pk, sortKey: sortKey(n))) == value else {
                    problems.append("\(what): get \(String(decoding: pk, as: UTF8.self))/\(n) differs from the model")
                    break
                }
            }
        }
        return problems
    }

    /// Model test: compare after every compaction the statistics show, and after every settle.
    @Test func randomWorkloadMatchesTheModelAcrossCompactions() throws {
        let seed = testSeed()
        var random = SeededGenerator(seed: seed)
        let fileSystem = PowerLossFileSystem()
        let store = try Store.open(at: "/cm", tables: Self.tables, options: Self.options(), fileSystem: fileSystem)
        let table = try store.table("t")
        var model: Model = [:]
        var next: [[UInt8]: UInt32] = [:]  // next key to append per partition key
        var compactionsSeen: UInt64 = 0
        var checks = 0
        var problems: [String] = []
        let steps = 500
        for step in 0..<steps where problems.isEmpty {
            var batch = WriteBatch()
            let pk = Self.partitionKeys.randomElement(using: &random)!
            let existing = Array((model[pk] ?? [:]).keys).sorted()
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<5:
                // Append new messages after everything (keys in increasing order).
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    let n = next[pk, default: 0]
                    next[pk] = n + UInt32.random(in: 1...3, using: &random)
                    let value = (0..<Int.random(in: 20...90, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                    batch.put(table, RowKey(partitionKey: pk, sortKey: Self.sortKey(n)), value: value)
                    model[pk, default: [:]][n] = value
                }
            case 5..<7:
                // Delete a run of old messages.
                guard !existing.isEmpty else { continue }
                let start = Int.random(in: 0..<existing.count, using: &random)
                for n in existing[start..<min(existing.count, start + Int.random(in: 1...20, using: &random))] {
                    batch.delete(table, RowKey(partitionKey: pk, sortKey: Self.sortKey(n)))
                    model[pk]![n] = nil
                }
            case 7..<9:
                // Overwrite some (or delete a key that is not there).
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    let n = existing.randomElement(using: &random) ?? UInt32.random(in: 0..<100, using: &random)
                    if Bool.random(using: &random) {
                        let value = (0..<Int.random(in: 1...60, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                        batch.put(table, RowKey(partitionKey: pk, sortKey: Self.sortKey(n)), value: value)
                        model[pk, default: [:]][n] = value
                    } else {
                        batch.delete(table, RowKey(partitionKey: pk, sortKey: Self.sortKey(n)))
                        model[pk]?[n] = nil
                    }
                }
            default:
                try store.settle()
                store.waitForBackgroundIdle()
                problems += try Self.compare(store, model, "after settle at step \(step)")
                checks += 1
                continue
            }
            try store.write(batch)
            // Let background work finish: the run is then a function of the seed (replayable), and
            // the comparing scans do not race compactions (scans under compaction: tests below).
            store.waitForBackgroundIdle()
            let compactions = store.statistics.compactions
            if compactions != compactionsSeen {
                compactionsSeen = compactions
                problems += try Self.compare(store, model, "after compaction \(compactions) (step \(step))")
                checks += 1
            }
        }
        try store.settle()
        problems += try Self.compare(store, model, "after the final settle")
        let statistics = store.statistics
        try store.close()
        let reopened = try Store.open(at: "/cm", tables: Self.tables, options: Self.options(), fileSystem: fileSystem)
        problems += try Self.compare(reopened, model, "after reopening")
        try reopened.close()
        print("compaction model: seed \(seed): \(checks) checks, \(statistics.compactions) compactions, files/level \(statistics.levelFileCounts)")
        #expect(problems.isEmpty, "seed \(seed) (MSGSTORE_SEED=\(seed)): \(problems.prefix(3).joined(separator: " | "))")
        if problems.isEmpty {  // (a failure stops the workload early)
            #expect(statistics.compactions > 20)
            #expect(statistics.levelFileCounts.dropFirst(3).contains { $0 > 0 }, "data never reached L3")
        }
    }

    /// A scan that is open while a compaction replaces its files must keep
    /// reading its snapshot: here the scan reads a few rows, then (inside its
    /// callback) the rows are overwritten and `settle` flushes and compacts
    /// every file the scan is reading; the scan then continues.
    @Test func scanContinuesAcrossACompactionOfItsFiles() throws {
        let fileSystem = PowerLossFileSystem()
        let store = try Store.open(at: "/scan", tables: Self.tables, options: Self.options(), fileSystem: fileSystem)
        let table = try store.table("t")
        let pk = Self.partitionKeys[0]
        let count: UInt32 = 300
        func value(_ n: UInt32, _ generation: UInt8) -> [UInt8] { [generation] + Self.sortKey(n) + [UInt8](repeating: generation, count: 40) }
        for chunk in Array(0..<count).powerLossChunks(20) {
            var batch = WriteBatch()
            for n in chunk { batch.put(table, RowKey(partitionKey: pk, sortKey: Self.sortKey(n)), value: value(n, 1)) }
            try store.write(batch)
        }
        try store.settle()
        let compactionsBefore = store.statistics.compactions
        var seen: [(UInt32, [UInt8])] = []
        var rewritten = false
        var scanError: (any Error)?
        do {
            try store.withUnsafeRows(table, partitionKey: pk) { sortKey, rowValue in
                seen.append((sortKey.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }, Array(rowValue)))
                if seen.count == 5 && !rewritten {
                    rewritten = true
                    // Overwrite every row, then flush and compact: the files under the scan are replaced.
                    for chunk in Array(0..<count).powerLossChunks(20) {
                        var batch = WriteBatch()
                        for n in chunk { batch.put(table, RowKey(partitionKey: pk, sortKey: Self.sortKey(n)), value: value(n, 2)) }
                        try store.write(batch)
                    }
                    try store.settle()
                }
                return true
            }
        } catch {
            scanError = error
        }
        let compactionsDuring = store.statistics.compactions - compactionsBefore
        #expect(compactionsDuring > 0, "settle did not compact")
        #expect(scanError == nil, "the scan failed after a compaction replaced its files (after \(seen.count) of \(count) rows): \(String(describing: scanError))")
        if scanError == nil {
            #expect(seen.count == Int(count), "the scan saw \(seen.count) rows, expected \(count)")
            let wrong = seen.filter { $0.1 != value($0.0, 1) }
            #expect(wrong.isEmpty, "the scan saw \(wrong.count) rows outside its snapshot (first: \(wrong.first.map { "\($0.0): generation \($0.1.first ?? 0)" } ?? ""))")
        }
        // The new generation is there for new reads.
        let after = try store.scan(table, partitionKey: pk, limit: 1_000)
        #expect(after.count == Int(count) && after.allSatisfy { $0.value.first == 2 })
        try store.close()
    }

    /// Scans on other threads while a writer rewrites a partition key in
    /// whole-batch generations and compactions run in the background: each
    /// scan must see every row, all of one generation (its snapshot), and
    /// generations must not go back.
    @Test func concurrentScansDuringCompactionsSeeWholeSnapshots() throws {
        let fileSystem = PowerLossFileSystem()
        let store = try Store.open(at: "/concurrent", tables: Self.tables, options: Self.options(), fileSystem: fileSystem)
        let table = try store.table("t")
        let pk = Self.partitionKeys[1]
        let rows: UInt32 = 80
        func write(generation: UInt32) throws {
            var batch = WriteBatch()
            for n in 0..<rows {
                batch.put(table, RowKey(partitionKey: pk, sortKey: Self.sortKey(n)), value: Self.sortKey(generation) + Self.sortKey(n) + [UInt8](repeating: UInt8(truncatingIfNeeded: generation), count: 24))
            }
            try store.write(batch)
        }
        try write(generation: 0)
        let done = Atomic<Bool>(false)
        let problems = Mutex<[String]>([])
        let scans = Atomic<Int>(0)
        let group = DispatchGroup()
        for reader in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                var last: UInt32 = 0
                while !done.load(ordering: .relaxed) {
                    do {
                        var generations = Set<UInt32>()
                        var count: UInt32 = 0
                        var order = true
                        try store.withUnsafeRows(table, partitionKey: pk) { sortKey, value in
                            let n = sortKey.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                            if n != count { order = false }
                            count += 1
                            generations.insert(value.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                            return true
                        }
                        scans.add(1, ordering: .relaxed)
                        if count != rows || !order || generations.count != 1 || generations.first! < last {
                            problems.withLock { $0.append("reader \(reader): \(count) rows, in order: \(order), generations \(generations.sorted()), previous \(last)") }
                            return
                        }
                        last = generations.first!
                    } catch {
                        problems.withLock { $0.append("reader \(reader): scan failed: \(error)") }
                        return
                    }
                }
            }
        }
        for generation in 1...120 {
            try write(generation: UInt32(generation))
        }
        done.store(true, ordering: .relaxed)
        group.wait()
        let statistics = store.statistics
        try store.close()
        print("concurrent scans: \(scans.load(ordering: .relaxed)) scans, \(statistics.compactions) compactions")
        #expect(statistics.compactions > 5, "too few compactions under the scans")
        #expect(problems.withLock { $0 }.isEmpty, "\(problems.withLock { $0 }.prefix(3))")
    }
}
