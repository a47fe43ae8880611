import Foundation
import Testing
@testable import MsgStore

/// The schema most store tests use: a plain table and an indexed one.
enum TestSchema {
    /// `people`: pk = id, value = "city:name"; index `by-city`: pk = city, sk = id (covering),
    /// index `by-name` (referencing): pk = name, sk = id.
    static let tables: [TableSchema] = [
        TableSchema(name: "kv", partitionCount: 4, cachesRows: true),
        TableSchema(name: "people", partitionCount: 3, indexes: [
            IndexSchema(name: "by-city", partitionCount: 2, kind: .covering) { row, value in
                guard let colon = value.firstIndex(of: UInt8(ascii: ":")) else { return nil }
                return RowKey(partitionKey: Array(value[..<colon]), sortKey: row.partitionKey)
            },
            IndexSchema(name: "by-name", partitionCount: 2, kind: .referencing) { row, value in
                guard let colon = value.firstIndex(of: UInt8(ascii: ":")) else { return nil }
                return RowKey(partitionKey: Array(value[(colon + 1)...]), sortKey: row.partitionKey)
            },
        ]),
    ]

    static func open(_ directory: TestDirectory, options: StoreOptions = StoreOptions(),
                     fileSystem: any FileSystem = PosixFileSystem()) throws -> Store {
        try Store.open(at: directory.path, tables: tables, options: options, fileSystem: fileSystem)
    }
}

@Suite struct StoreTests {
    @Test func putGetDeleteAndReopen() async throws {
        let directory = TestDirectory()
        do {
            let store = try TestSchema.open(directory)
            let kv = try store.table("kv")
            var batch = WriteBatch()
            batch.put(kv, RowKey(partitionKey: bytes("a"), sortKey: bytes("1")), value: bytes("one"))
            batch.put(kv, RowKey(partitionKey: bytes("a"), sortKey: bytes("2")), value: bytes("two"))
            batch.put(kv, RowKey(partitionKey: bytes("b")), value: bytes("bee"))
            try await store.write(batch)
            #expect(try store.get(kv, RowKey(partitionKey: bytes("a"), sortKey: bytes("1"))) == bytes("one"))
            var second = WriteBatch()
            second.delete(kv, RowKey(partitionKey: bytes("a"), sortKey: bytes("1")))
            second.put(kv, RowKey(partitionKey: bytes("b")), value: bytes("bee2"))
            try await store.write(second)
            #expect(try store.get(kv, RowKey(partitionKey: bytes("a"), sortKey: bytes("1"))) == nil)
            #expect(try store.get(kv, RowKey(partitionKey: bytes("b"))) == bytes("bee2"))
            try await store.close()
        }
        let store = try TestSchema.open(directory)
        let kv = try store.table("kv")
        #expect(try store.get(kv, RowKey(partitionKey: bytes("a"), sortKey: bytes("1"))) == nil)
        #expect(try store.get(kv, RowKey(partitionKey: bytes("a"), sortKey: bytes("2"))) == bytes("two"))
        #expect(try store.get(kv, RowKey(partitionKey: bytes("b"))) == bytes("bee2"))
        try await store.close()
    }

    @Test func scanIsOrderedConfinedToThePartitionKeyAndHonoursStartAndLimit() throws {
        let directory = TestDirectory()
        let store = try TestSchema.open(directory, options: { var o = StoreOptions(); o.sync = .none; return o }())
        let kv = try store.table("kv")
        var batch = WriteBatch()
        for i in [5, 1, 9, 3, 7] {
            batch.put(kv, RowKey(partitionKey: bytes("p"), sortKey: [UInt8(i)]), value: [UInt8(i * 10)])
        }
        batch.put(kv, RowKey(partitionKey: bytes("q"), sortKey: [0]), value: [0])
        batch.put(kv, RowKey(partitionKey: bytes("pp"), sortKey: [0]), value: [0])
        try store.write(batch)
        #expect(try store.scan(kv, partitionKey: bytes("p"), limit: 100).map(\.sortKey) == [[1], [3], [5], [7], [9]])
        #expect(try store.scan(kv, partitionKey: bytes("p"), from: .at([3]), limit: 2).map(\.sortKey) == [[3], [5]])
        #expect(try store.scan(kv, partitionKey: bytes("p"), from: .after([3]), limit: 2).map(\.sortKey) == [[5], [7]])
        #expect(try store.scan(kv, partitionKey: bytes("p"), from: .after([9]), limit: 2).isEmpty)
        #expect(try store.scan(kv, partitionKey: bytes("none"), limit: 5).isEmpty)
        try store.close()
    }

    @Test func indexesFollowPutsOverwritesAndDeletes() async throws {
        let directory = TestDirectory()
        let store = try TestSchema.open(directory)
        let people = try store.table("people")
        let byCity = try store.index("by-city", on: "people")
        let byName = try store.index("by-name", on: "people")
        var batch = WriteBatch()
        batch.put(people, RowKey(partitionKey: bytes("1")), value: bytes("paris:ann"))
        batch.put(people, RowKey(partitionKey: bytes("2")), value: bytes("oslo:bob"))
        batch.put(people, RowKey(partitionKey: bytes("3")), value: bytes("paris:cid"))
        try await store.write(batch)
        #expect(try store.scan(byCity, partitionKey: bytes("paris"), limit: 10).map(\.value) == [bytes("paris:ann"), bytes("paris:cid")])
        let reference = try store.scan(byName, partitionKey: bytes("bob"), limit: 10)
        #expect(reference.count == 1)
        #expect(IndexReference.decode(reference[0].value) == RowKey(partitionKey: bytes("2")))

        // Move person 1 to oslo and delete person 3, in one batch with a write before it in the same group.
        var move = WriteBatch()
        move.put(people, RowKey(partitionKey: bytes("1")), value: bytes("oslo:ann"))
        move.delete(people, RowKey(partitionKey: bytes("3")))
        try await store.write(move)
        #expect(try store.scan(byCity, partitionKey: bytes("paris"), limit: 10).isEmpty)
        #expect(try store.scan(byCity, partitionKey: bytes("oslo"), limit: 10).map(\.sortKey) == [bytes("1"), bytes("2")])
        #expect(try store.scan(byName, partitionKey: bytes("cid"), limit: 10).isEmpty)

        // Two writes to the same row inside one batch: the second sees the first.
        var twice = WriteBatch()
        twice.put(people, RowKey(partitionKey: bytes("4")), value: bytes("rome:dan"))
        twice.put(people, RowKey(partitionKey: bytes("4")), value: bytes("lima:dan"))
        try await store.write(twice)
        #expect(try store.scan(byCity, partitionKey: bytes("rome"), limit: 10).isEmpty)
        #expect(try store.scan(byCity, partitionKey: bytes("lima"), limit: 10).count == 1)
        try await store.close()
    }

    @Test func commitTimestampsAreStampedUniqueAndIncreasingAcrossRestarts() async throws {
        let directory = TestDirectory()
        var last: Int64 = 0
        for round in 0..<2 {
            let store = try TestSchema.open(directory)
            let kv = try store.table("kv")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<8 {
                    group.addTask {
                        for i in 0..<20 {
                            var batch = WriteBatch()
                            batch.put(kv, RowKey(partitionKey: bytes("inbox"), sortKey: [UInt8](repeating: 0, count: 8) + [UInt8(task), UInt8(i)]),
                                      value: [UInt8](repeating: 0, count: 8), stampSortKeyAt: 0, stampValueAt: 0)
                            try await store.write(batch)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let rows = try store.scan(kv, partitionKey: bytes("inbox"), limit: 1000)
            let stamps = rows.map { row in row.sortKey.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) } }
            let valueStamps = rows.map { row in row.value.reduce(Int64(0)) { $0 << 8 | Int64($1) } }
            #expect(stamps == valueStamps)
            #expect(Set(stamps).count == stamps.count)
            #expect(stamps == stamps.sorted())
            #expect(stamps.count == 160 * (round + 1))
            // Everything written after the restart is dated after everything before it.
            #expect(stamps[(160 * round)...].allSatisfy { $0 > last })
            last = stamps.max()!
            try await store.close()
        }
    }

    @Test func secondOpenOfTheSameDirectoryIsRefused() throws {
        let directory = TestDirectory()
        let store = try TestSchema.open(directory)
        #expect { _ = try TestSchema.open(directory) } throws: { ($0 as! StoreError).code == .locked }
        try store.close()
        let again = try TestSchema.open(directory)
        try again.close()
    }

    @Test func changedPartitionCountIsRefused() throws {
        let directory = TestDirectory()
        try TestSchema.open(directory).close()
        #expect {
            _ = try Store.open(at: directory.path, tables: [TableSchema(name: "kv", partitionCount: 5)])
        } throws: { ($0 as! StoreError).code == .schemaMismatch }
    }

    @Test func oversizedKeysAndValuesAreRefused() throws {
        let directory = TestDirectory()
        var options = StoreOptions()
        options.maxKeyBytes = 10
        options.maxValueBytes = 10
        let store = try TestSchema.open(directory, options: options)
        let kv = try store.table("kv")
        var batch = WriteBatch()
        batch.put(kv, RowKey(partitionKey: [UInt8](repeating: 1, count: 11)), value: [])
        #expect { try store.write(batch) } throws: { ($0 as! StoreError).code == .limitExceeded }
        var second = WriteBatch()
        second.put(kv, RowKey(partitionKey: [1]), value: [UInt8](repeating: 1, count: 11))
        #expect { try store.write(second) } throws: { ($0 as! StoreError).code == .limitExceeded }
        try store.close()
    }

    @Test func corruptionInTheMiddleOfTheLogFailsOpenWithFileAndOffset() throws {
        let directory = TestDirectory()
        let store = try TestSchema.open(directory)
        let kv = try store.table("kv")
        for i in 0..<50 {
            var batch = WriteBatch()
            batch.put(kv, RowKey(partitionKey: [UInt8(i)]), value: [UInt8](repeating: UInt8(i), count: 100))
            try store.write(batch)
        }
        try store.close()
        let log = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".log") }.sorted()[0]
        let path = directory.file(log)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        let damagedAt = 1000
        data[damagedAt] ^= 0xFF
        try data.write(to: URL(fileURLWithPath: path))
        #expect { _ = try TestSchema.open(directory) } throws: { error in
            let error = error as! StoreError
            return error.code == .corruption && error.file == path && error.offset != nil && error.offset! <= Int64(damagedAt)
                && error.offset! > Int64(damagedAt - 200)
        }
        // Asked to repair: it opens and keeps the records before the damage.
        var options = StoreOptions()
        options.recovery = .pointInTime
        let repaired = try TestSchema.open(directory, options: options)
        #expect(try repaired.get(kv, RowKey(partitionKey: [0])) != nil)
        #expect(try repaired.get(kv, RowKey(partitionKey: [49])) == nil)
        try repaired.close()
    }

    @Test func tornTailIsCutAndReported() throws {
        let directory = TestDirectory()
        let store = try TestSchema.open(directory)
        let kv = try store.table("kv")
        for i in 0..<5 {
            var batch = WriteBatch()
            batch.put(kv, RowKey(partitionKey: [UInt8(i)]), value: [UInt8](repeating: 7, count: 50))
            try store.write(batch)
        }
        try store.close()
        let log = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".log") }.sorted().last!
        let path = directory.file(log)
        let size = try PosixFileSystem().fileSize(path)
        truncate(path, off_t(size - 10))
        let reopened = try TestSchema.open(directory)
        #expect(reopened.recoveredTornTails.count == 1)
        #expect(reopened.recoveredTornTails.first?.file == path)
        #expect(try reopened.get(kv, RowKey(partitionKey: [3])) != nil)
        #expect(try reopened.get(kv, RowKey(partitionKey: [4])) == nil)
        try reopened.close()
    }

    @Test func failedSyncFailsTheWriteAndStopsTheStore() throws {
        let directory = TestDirectory()
        let fileSystem = FaultInjectingFileSystem()
        let store = try TestSchema.open(directory, fileSystem: fileSystem)
        let kv = try store.table("kv")
        var batch = WriteBatch()
        batch.put(kv, RowKey(partitionKey: [1]), value: [1])
        try store.write(batch)
        fileSystem.failSyncs(true)
        #expect { try store.write(batch) } throws: { ($0 as! StoreError).code == .unavailable }
        fileSystem.failSyncs(false)
        // Once the log failed, the store refuses further writes rather than guess what is durable.
        #expect { try store.write(batch) } throws: { ($0 as! StoreError).code == .unavailable }
        #expect(store.writeRefusal?.code == .unavailable)
        #expect(try store.get(kv, RowKey(partitionKey: [1])) == [1], "reads go on")
        #expect(throws: StoreError.self) { try store.close() }
    }

    @Test func acknowledgedWritesSurviveLosingUnsyncedBytes() throws {
        let directory = TestDirectory()
        let fileSystem = FaultInjectingFileSystem()
        let store = try TestSchema.open(directory, fileSystem: fileSystem)
        let kv = try store.table("kv")
        for i in 0..<30 {
            var batch = WriteBatch()
            batch.put(kv, RowKey(partitionKey: [UInt8(i)]), value: [UInt8(i)])
            try store.write(batch)
        }
        #expect(fileSystem.syncCount >= 30)
        // Simulate a power cut: the process is gone and unsynced bytes are lost.
        try fileSystem.dropUnsyncedData()
        try store.close()  // (releases the lock; nothing unsynced was pending)
        let reopened = try TestSchema.open(directory)
        for i in 0..<30 { #expect(try reopened.get(kv, RowKey(partitionKey: [UInt8(i)])) == [UInt8(i)]) }
        try reopened.close()
    }

    @Test func syncModeNoneDoesNotSyncPerWrite() throws {
        let directory = TestDirectory()
        let fileSystem = FaultInjectingFileSystem()
        var options = StoreOptions()
        options.sync = .none
        let store = try TestSchema.open(directory, options: options, fileSystem: fileSystem)
        let kv = try store.table("kv")
        let before = fileSystem.syncCount
        for i in 0..<20 {
            var batch = WriteBatch()
            batch.put(kv, RowKey(partitionKey: [UInt8(i)]), value: [UInt8(i)])
            try store.write(batch)
        }
        #expect(fileSystem.syncCount == before)
        try store.close()
    }

    @Test func concurrentWritersShareSyncs() async throws {
        let directory = TestDirectory()
        let fileSystem = FaultInjectingFileSystem()
        let store = try TestSchema.open(directory, fileSystem: fileSystem)
        let kv = try store.table("kv")
        let before = fileSystem.syncCount
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<16 {
                group.addTask {
                    for i in 0..<25 {
                        var batch = WriteBatch()
                        batch.put(kv, RowKey(partitionKey: [UInt8(task), UInt8(i)]), value: [1])
                        try await store.write(batch)
                    }
                }
            }
            try await group.waitForAll()
        }
        let syncs = fileSystem.syncCount - before
        print("400 concurrent async writes used \(syncs) fdatasyncs")
        #expect(syncs < 400)
        for task in 0..<16 { #expect(try store.get(kv, RowKey(partitionKey: [UInt8(task), 24])) == [1]) }
        try await store.close()
    }

    @Test func rowCacheNeverServesAStaleValue() async throws {
        let directory = TestDirectory()
        var options = StoreOptions()
        options.sync = .none
        options.rowCacheBytes = 64 << 10
        let store = try TestSchema.open(directory, options: options)
        let kv = try store.table("kv")
        let keys = (0..<4).map { RowKey(partitionKey: [UInt8($0)]) }
        let rounds = 400
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for round in 1...rounds {
                    var batch = WriteBatch()
                    for key in keys { batch.put(kv, key, value: withUnsafeBytes(of: UInt32(round)) { Array($0) }) }
                    if round % 50 == 0 { batch.delete(kv, keys[3]) }
                    try await store.write(batch)
                }
            }
            for _ in 0..<3 {
                group.addTask {
                    var seen = Array(repeating: UInt32(0), count: keys.count)
                    for _ in 0..<2000 {
                        for (index, key) in keys.enumerated().dropLast() {
                            guard let value = try store.get(kv, key) else { continue }
                            let round = value.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
                            #expect(round >= seen[index], "key \(index) went back from \(seen[index]) to \(round)")
                            seen[index] = round
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        for key in keys.dropLast() {
            #expect(try store.get(kv, key) == withUnsafeBytes(of: UInt32(rounds)) { Array($0) })
        }
        #expect(try store.get(kv, keys[3]) == nil)  // deleted in the last round
        #expect(store.statistics.rowCacheHits > 0)
        try await store.close()
    }

    @Test func logSegmentsRollAndAllReplay() throws {
        let directory = TestDirectory()
        var options = StoreOptions()
        options.walSegmentBytes = 4096
        options.sync = .none
        do {
            let store = try TestSchema.open(directory, options: options)
            let kv = try store.table("kv")
            for i in 0..<200 {
                var batch = WriteBatch()
                batch.put(kv, RowKey(partitionKey: [UInt8(i % 256)], sortKey: [UInt8(i / 256)]), value: [UInt8](repeating: 3, count: 100))
                try store.write(batch)
            }
            try store.close()
        }
        let logs = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".log") }
        #expect(logs.count > 3)
        let store = try TestSchema.open(directory, options: options)
        let kv = try store.table("kv")
        for i in 0..<200 { #expect(try store.get(kv, RowKey(partitionKey: [UInt8(i % 256)], sortKey: [UInt8(i / 256)])) != nil) }
        try store.close()
    }
}
