import Foundation
import Synchronization
import Testing
@testable import MsgStore

/// The descriptor cache (``TableFileCache``, `StoreOptions.maxOpenTableFiles`):
/// reads through a cache far smaller than the number of SSTables return the
/// files' contents; the descriptors open stay under the cap (plus one per
/// read in flight); a descriptor is never closed under a read; a file that
/// cannot be opened again is an error naming it.
@Suite struct TableFileCacheTests {
    /// `count` SSTables of random entries in `directory`: their paths and entries.
    static func makeTables(_ count: Int, in directory: TestDirectory, _ random: inout SeededGenerator) throws -> [(path: String, entries: [TestEntry])] {
        var options = SSTableOptions()
        options.blockSizeBytes = 256  // many blocks: reads keep going to the files
        return try (0..<count).map { index in
            let entries = TableTesting.entries(userKeys: 150, partitions: 3, &random)
            let path = directory.file(StoreFileNames.table(UInt64(index + 1)))
            try TableTesting.build(entries, at: path, options: options)
            return (path, entries)
        }
    }

    /// What a point lookup at the newest snapshot must find: the newest version of each user key.
    static func expectedGets(_ entries: [TestEntry]) -> [[UInt8]: SSTableReader.GetResult] {
        var result: [[UInt8]: SSTableReader.GetResult] = [:]
        for entry in entries where result[entry.userKey] == nil {  // newest version first
            result[entry.userKey] = entry.kind == .value ? .found(value: entry.value, sequence: entry.sequence) : .deleted(sequence: entry.sequence)
        }
        return result
    }

    @Test func concurrentReadsThroughASmallCacheMatchTheFilesAndStayUnderTheCap() throws {
        let seed = testSeed()
        var random = SeededGenerator(seed: seed)
        let directory = TestDirectory()
        let tables = try Self.makeTables(12, in: directory, &random)
        let fileSystem = DescriptorCountingFileSystem()
        let capacity = 3
        let cache = TableFileCache(capacity: capacity)
        let readers = try tables.enumerated().map { index, table in
            try SSTableReader.open(fileSystem: fileSystem, path: table.path, fileNumber: UInt64(index + 1), cache: nil, tableFiles: cache)
        }
        #expect(fileSystem.peakOpenTables <= capacity, "opening 12 tables opened \(fileSystem.peakOpenTables) descriptors at once")
        let expected = tables.map { Self.expectedGets($0.entries) }
        // One thread: never more than the cap.
        for (index, table) in tables.enumerated() {
            for entry in table.entries.prefix(20) {
                #expect(try readers[index].get(entry.userKey, snapshotSequence: InternalKey.maxSequence) == expected[index][entry.userKey])
            }
        }
        #expect(fileSystem.peakOpenTables <= capacity, "one reader: \(fileSystem.peakOpenTables) descriptors open at once, cap \(capacity)")
        let threads = 6
        let problems = Mutex<[String]>([])
        let group = DispatchGroup()
        for thread in 0..<threads {
            group.enter()
            let threadSeed = seed &+ UInt64(thread) &* 0x9E37_79B9
            Thread.detachNewThread {
                defer { group.leave() }
                var random = SeededGenerator(seed: threadSeed)
                do {
                    for _ in 0..<400 {
                        let index = Int.random(in: 0..<readers.count, using: &random)
                        let entries = tables[index].entries
                        if Bool.random(using: &random) {
                            let entry = entries.randomElement(using: &random)!
                            let got = try readers[index].get(entry.userKey, snapshotSequence: InternalKey.maxSequence)
                            if got != expected[index][entry.userKey] {
                                problems.withLock { $0.append("table \(index): get found \(got), expected \(String(describing: expected[index][entry.userKey]))") }
                                return
                            }
                        } else {
                            let start = Int.random(in: 0..<entries.count, using: &random)
                            let iterator = readers[index].makeIterator()
                            try entries[start].key.withUnsafeBytes { try iterator.seek(toFirstAtOrAfter: $0) }
                            var position = start
                            while iterator.isValid && position < min(entries.count, start + 40) {
                                guard Array(iterator.key) == entries[position].key, Array(iterator.value) == entries[position].value else {
                                    problems.withLock { $0.append("table \(index): scan from \(start) differs at \(position)") }
                                    return
                                }
                                position += 1
                                try iterator.next()
                            }
                            if position < min(entries.count, start + 40) {
                                problems.withLock { $0.append("table \(index): scan from \(start) ended at \(position)") }
                                return
                            }
                        }
                    }
                } catch {
                    problems.withLock { $0.append("read failed: \(error)") }
                }
            }
        }
        group.wait()
        cache.checkInvariants()
        let statistics = cache.statistics
        print("table file cache: seed \(seed): \(fileSystem.tableOpens) opens, peak \(fileSystem.peakOpenTables) open, \(statistics)")
        #expect(problems.withLock { $0 }.isEmpty, "seed \(seed): \(problems.withLock { $0 }.prefix(3))")
        // Over the cap by about one per reader at most (a pinned read, or a
        // descriptor being opened); +2 for victims whose close a descheduled thread has not reached yet.
        #expect(fileSystem.peakOpenTables <= capacity + threads + 2, "peak \(fileSystem.peakOpenTables) descriptors open, cap \(capacity), \(threads) readers")
        #expect(fileSystem.openTables <= capacity, "\(fileSystem.openTables) descriptors open once no read is in flight")
        #expect(statistics.openFiles == fileSystem.openTables)
        #expect(statistics.evictions > 0 && statistics.reopens > 0, "the cap was never reached: \(statistics)")
        #expect(fileSystem.closesDuringReads == 0, "a descriptor was closed under a read")
        #expect(fileSystem.readsAfterClose == 0, "a read used a closed descriptor")
        for reader in readers { try reader.close() }
        #expect(fileSystem.openTables == 0)
        #expect(cache.statistics.openFiles == 0)
    }

    /// With a cap of one, a read held in flight on A keeps A's descriptor
    /// open while B opens (the cache goes over its cap); `close()` of A waits
    /// for the read; the read returns A's data; afterwards the cache is back
    /// at its cap and reads of A throw `.closed`.
    @Test func aDescriptorIsNeverClosedUnderARead() throws {
        var random = SeededGenerator(seed: 7)
        let directory = TestDirectory()
        let tables = try Self.makeTables(2, in: directory, &random)
        let fileSystem = DescriptorCountingFileSystem()
        let cache = TableFileCache(capacity: 1)
        let a = try SSTableReader.open(fileSystem: fileSystem, path: tables[0].path, fileNumber: 1, cache: nil, tableFiles: cache)
        let b = try SSTableReader.open(fileSystem: fileSystem, path: tables[1].path, fileNumber: 2, cache: nil, tableFiles: cache)
        #expect(fileSystem.openTables == 1)
        let entryA = tables[0].entries.first { $0.kind == .value }!
        let entryB = tables[1].entries.first { $0.kind == .value }!
        let expectedA = Self.expectedGets(tables[0].entries)[entryA.userKey]
        let expectedB = Self.expectedGets(tables[1].entries)[entryB.userKey]

        fileSystem.holdReads(containing: StoreFileNames.table(1))
        let readResult = Mutex<Result<SSTableReader.GetResult, any Error>?>(nil)
        let reading = DispatchGroup()
        reading.enter()
        Thread.detachNewThread {
            defer { reading.leave() }
            let result = Result { try a.get(entryA.userKey, snapshotSequence: InternalKey.maxSequence) }
            readResult.withLock { $0 = result }
        }
        let deadline = Date().addingTimeInterval(10)
        while fileSystem.heldReads == 0 && Date() < deadline { usleep(1_000) }
        #expect(fileSystem.heldReads == 1, "the read of A never started")

        // B opens; A is pinned, so the cache goes over its cap instead of
        // closing A, and B's read, unpinning last, trims it back (closing B).
        fileSystem.resetPeak()
        #expect(try b.get(entryB.userKey, snapshotSequence: InternalKey.maxSequence) == expectedB)
        #expect(fileSystem.peakOpenTables == 2)
        #expect(fileSystem.openTables == 1)
        #expect(a.file.isOpen && !b.file.isOpen)

        // Closing A waits for the read in flight.
        let closed = Atomic<Bool>(false)
        let closing = DispatchGroup()
        closing.enter()
        Thread.detachNewThread {
            defer { closing.leave() }
            try? a.close()
            closed.store(true, ordering: .releasing)
        }
        usleep(100_000)
        let closedEarly = closed.load(ordering: .acquiring)
        #expect(!closedEarly, "close() returned while a read was in flight")

        fileSystem.holdReads(containing: nil)
        reading.wait()
        closing.wait()
        let closedAfter = closed.load(ordering: .acquiring)
        #expect(closedAfter)
        let result = readResult.withLock { $0 }
        if case .success(let found) = result {
            #expect(found == expectedA)
        } else {
            Issue.record("the read of A failed: \(String(describing: result))")
        }
        #expect(fileSystem.closesDuringReads == 0, "a descriptor was closed under a read")
        #expect(fileSystem.openTables == 0, "\(fileSystem.openTables) open after A's close")
        cache.checkInvariants()
        #expect(throws: StoreError.self) { try a.get(entryA.userKey, snapshotSequence: InternalKey.maxSequence) }
        do {
            _ = try a.readDataBlockUncached(BlockHandle(offset: 0, size: 1))
        } catch let error as StoreError {
            #expect(error.code == .closed && error.file == tables[0].path, "\(error)")
        }
        try b.close()
        #expect(fileSystem.openTables == 0)
    }

    /// A descriptor that cannot be opened again surfaces as an error naming
    /// the file: `.io` with the errno (EMFILE and the like: transient), or
    /// `.corruption` when the file is gone.
    @Test func aFailedReopenNamesTheFile() throws {
        var random = SeededGenerator(seed: 11)
        let directory = TestDirectory()
        let tables = try Self.makeTables(2, in: directory, &random)
        let fileSystem = FaultInjectingFileSystem()
        let cache = TableFileCache(capacity: 1)
        let a = try SSTableReader.open(fileSystem: fileSystem, path: tables[0].path, fileNumber: 1, cache: nil, tableFiles: cache)
        let b = try SSTableReader.open(fileSystem: fileSystem, path: tables[1].path, fileNumber: 2, cache: nil, tableFiles: cache)
        defer {
            try? a.close()
            try? b.close()
        }
        #expect(!a.file.isOpen && b.file.isOpen)
        let key = tables[0].entries[0].userKey

        fileSystem.failOpens(containing: StoreFileNames.table(1))
        do {
            _ = try a.get(key, snapshotSequence: InternalKey.maxSequence)
            Issue.record("a read through a descriptor that cannot be opened succeeded")
        } catch let error as StoreError {
            #expect(error.code == .io && error.file == tables[0].path && error.errno == 5, "\(error)")
        }
        fileSystem.failOpens(containing: nil)
        #expect(try a.get(key, snapshotSequence: InternalKey.maxSequence) != .notPresent)  // transient: the next read opens it
        #expect(a.file.isOpen && !b.file.isOpen)

        try FileManager.default.removeItem(atPath: tables[1].path)
        do {
            _ = try b.get(tables[1].entries[0].userKey, snapshotSequence: InternalKey.maxSequence)
            Issue.record("a read of a removed SSTable succeeded")
        } catch let error as StoreError {
            #expect(error.code == .corruption && error.file == tables[1].path, "\(error)")
        }
    }

    // MARK: A store

    static let tables = [TableSchema(name: "t", partitionCount: 4)]
    static let partitionKeys: [[UInt8]] = (0..<8).map { Array("user\($0)".utf8) }
    static let rowsPerKey: UInt32 = 250

    static func sortKey(_ n: UInt32) -> [UInt8] { withUnsafeBytes(of: n.bigEndian) { Array($0) } }
    /// The value of row `n` of partition key `pk` (whatever generation wrote it).
    static func value(_ pk: [UInt8], _ n: UInt32) -> [UInt8] { pk + sortKey(n) + [UInt8](repeating: UInt8(truncatingIfNeeded: n), count: 24) }

    static func storeOptions(maxOpenTableFiles: Int) -> StoreOptions {
        var options = StoreOptions.tinyLSM(memtableBudgetBytes: 64 << 10)
        options.blockCacheBytes = 0  // every block read goes to its file
        options.rowCacheBytes = 0
        options.maxOpenTableFiles = maxOpenTableFiles
        return options
    }

    static func writeAll(_ store: Store, keys: [[UInt8]] = partitionKeys) throws {
        let table = try store.table("t")
        for pk in keys {
            for chunk in stride(from: UInt32(0), to: rowsPerKey, by: 25) {
                var batch = WriteBatch()
                for n in chunk..<min(chunk + 25, rowsPerKey) {
                    batch.put(table, RowKey(partitionKey: pk, sortKey: sortKey(n)), value: value(pk, n))
                }
                try store.write(batch)
            }
        }
    }

    /// Reader threads doing random point lookups and scans against the model
    /// while a writer rewrites rows (flushes, and compactions deleting the
    /// files under the readers), through a cap of 3 descriptors for well over
    /// a hundred SSTables: every answer is the model's, the descriptors open
    /// stay under the cap plus one per read in flight and per background
    /// thread, and none is closed under a read. Reopened: every row is there.
    @Test func concurrentReadsAndCompactionsUnderATinyDescriptorCapMatchTheModel() throws {
        let seed = testSeed()
        let directory = TestDirectory()
        let fileSystem = DescriptorCountingFileSystem()
        let capacity = 3
        let options = Self.storeOptions(maxOpenTableFiles: capacity)
        let store = try Store.open(at: directory.path, tables: Self.tables, options: options, fileSystem: fileSystem)
        let table = try store.table("t")
        try Self.writeAll(store)
        store.waitForBackgroundIdle()
        let before = store.statistics
        let liveFiles = before.levelFileCounts.reduce(0, +)
        #expect(liveFiles > 10 * capacity, "only \(liveFiles) SSTables")
        fileSystem.resetPeak()

        let readers = 4
        let done = Atomic<Bool>(false)
        let problems = Mutex<[String]>([])
        let reads = Atomic<Int>(0)
        let group = DispatchGroup()
        for thread in 0..<readers {
            group.enter()
            let threadSeed = seed &+ UInt64(thread) &* 0x9E37_79B9
            Thread.detachNewThread {
                defer { group.leave() }
                var random = SeededGenerator(seed: threadSeed)
                while !done.load(ordering: .relaxed) {
                    let pk = Self.partitionKeys.randomElement(using: &random)!
                    let n = UInt32.random(in: 0..<Self.rowsPerKey, using: &random)
                    do {
                        if Bool.random(using: &random) {
                            let got = try store.get(table, RowKey(partitionKey: pk, sortKey: Self.sortKey(n)))
                            if got != Self.value(pk, n) {
                                problems.withLock { $0.append("get \(String(decoding: pk, as: UTF8.self))/\(n): \(got.map { "\($0.count) bytes" } ?? "nil")") }
                                return
                            }
                        } else {
                            let rows = try store.scan(table, partitionKey: pk, from: .at(Self.sortKey(n)), limit: 30)
                            let count = min(30, Int(Self.rowsPerKey - n))
                            let expected = (0..<UInt32(count)).map { Row(sortKey: Self.sortKey(n + $0), value: Self.value(pk, n + $0)) }
                            if rows != expected {
                                problems.withLock { $0.append("scan \(String(decoding: pk, as: UTF8.self)) from \(n): \(rows.count) rows, expected \(count)") }
                                return
                            }
                        }
                        reads.add(1, ordering: .relaxed)
                    } catch {
                        problems.withLock { $0.append("read failed: \(error)") }
                        return
                    }
                }
            }
        }
        // Rewrite rows (same values: the model does not change) so that flushes
        // and compactions replace and delete the files under the readers.
        for round in 0..<3 {
            try Self.writeAll(store, keys: round % 2 == 0 ? Array(Self.partitionKeys.prefix(4)) : Array(Self.partitionKeys.suffix(4)))
            #expect(store.statistics.openTableFiles <= capacity + readers + 2)
        }
        store.waitForBackgroundIdle()
        done.store(true, ordering: .relaxed)
        group.wait()
        let after = store.statistics
        print("descriptor cap \(capacity): seed \(seed): \(liveFiles) SSTables, \(reads.load(ordering: .relaxed)) reads, "
              + "\(after.compactions - before.compactions) compactions under the readers, peak \(fileSystem.peakOpenTables) descriptors, "
              + "\(after.tableFileReopens) reopens, \(after.tableFileEvictions) evictions")
        #expect(problems.withLock { $0 }.isEmpty, "seed \(seed): \(problems.withLock { $0 }.prefix(3))")
        #expect(after.compactions > before.compactions, "no compaction ran under the readers")
        // About one per thread over the cap at most (4 readers, the flush and
        // compaction threads), +3 for victims whose close a descheduled thread has not reached yet.
        #expect(fileSystem.peakOpenTables <= capacity + readers + 2 + 3,
                "peak \(fileSystem.peakOpenTables) SSTable descriptors open, cap \(capacity), \(readers) readers")
        #expect(after.openTableFiles <= capacity && fileSystem.openTables <= capacity)
        #expect(after.tableFileReopens > 0 && after.tableFileEvictions > 0)
        #expect(fileSystem.closesDuringReads == 0 && fileSystem.readsAfterClose == 0)
        store.engine.tableFiles.checkInvariants()
        try store.close()
        #expect(fileSystem.openTables == 0, "\(fileSystem.openTables) SSTable descriptors open after close")

        let reopened = try Store.open(at: directory.path, tables: Self.tables, options: Self.storeOptions(maxOpenTableFiles: 2))
        for pk in Self.partitionKeys {
            let rows = try reopened.scan(table, partitionKey: pk, limit: 1_000)
            #expect(rows == (0..<Self.rowsPerKey).map { Row(sortKey: Self.sortKey($0), value: Self.value(pk, $0)) })
        }
        #expect(reopened.statistics.openTableFiles <= 2)
        try reopened.close()
        #expect(StoreVerifier.verify(path: directory.path).isSound)
    }

    @Test func aCapBelowOneIsRefused() throws {
        let directory = TestDirectory()
        var options = StoreOptions()
        options.maxOpenTableFiles = 0
        #expect(throws: StoreError.self) { try Store.open(at: directory.path, tables: Self.tables, options: options) }
    }
}
