import Foundation
import Testing
@testable import MsgStore

/// Torn tail versus corruption (defect 5 of the durability review): damage a
/// reader used to skip in silence, and holes power loss leaves in a log's
/// unsynced tail, which must not stop the store from opening.
@Suite(.serialized) struct TornTailRegressionTests {
    static let kvOnly = DurabilityRegressionTests.kvOnly

    static func key(_ i: Int) -> RowKey { DurabilityRegressionTests.key(i) }

    /// Defect: a damaged length field in the last block made the reader stop
    /// there as if at a torn tail, dropping the valid records after it in the
    /// same block without an error.
    @Test func aDamagedLengthInTheLastBlockIsCorruptionNotATornTail() throws {
        let tests = LogFormatTests()
        let data = try tests.write([tests.pattern(100, seed: 1), tests.pattern(100, seed: 2), tests.pattern(100, seed: 3)])
        var damaged = data
        let second = LogFormat.headerSize + 100  // the second fragment's header
        damaged[second + 4] = 0xF0  // its length field, now past the block's end
        damaged[second + 5] = 0x7F
        #expect {
            _ = try tests.read(damaged)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.code == .corruption && error.offset == Int64(second)
        }
        // Repair mode still stops at the damage (what follows is dropped on request).
        let (records, summary) = try tests.read(damaged, mode: .pointInTime)
        #expect(records.count == 1)
        #expect(summary.tornTail?.offset == Int64(second))
    }

    /// Writes `count` synced batches of `valueBytes` each and returns the
    /// live log segment's path (the store is closed without flushing: the
    /// log holds everything).
    private func writeSynced(_ directory: TestDirectory, count: Int, valueBytes: Int, startingAt first: Int = 0) throws -> String {
        var options = StoreOptions()
        options.preallocateLog = false
        let store = try Store.open(at: directory.path, tables: Self.kvOnly, options: options)
        let kv = try store.table("kv")
        for i in first..<(first + count) {
            var batch = WriteBatch()
            batch.put(kv, Self.key(i), value: [UInt8](repeating: UInt8(i % 250), count: valueBytes))
            try store.write(batch, sync: true)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        let live = names.compactMap(StoreFileNames.logNumber).max()!
        // "Crash": leave the files as they are (the store is dropped without close).
        _ = store
        return directory.file(StoreFileNames.log(live))
    }

    private func zero(_ path: String, from start: Int, count: Int) throws {
        let handle = try PosixFileSystem().open(path, mode: .readWrite)
        try handle.write([UInt8](repeating: 0, count: count), at: Int64(start))
        try handle.close()
    }

    /// Defect: power loss while a multi-block group is written can persist a
    /// later block without an earlier one; strict recovery then refused to
    /// open. Nothing from the hole on was acknowledged (its `fdatasync` never
    /// returned), so recovery cuts there and opens.
    @Test func aHoleInTheUnsyncedTailIsCutAndTheStoreOpens() throws {
        let directory = TestDirectory()
        let source = TestDirectory()
        let path = try writeSynced(source, count: 20, valueBytes: 100)
        // A crash image, then a big unsynced record whose first block never reached the disk.
        try crashImage(of: source.path, into: directory)
        let image = directory.file(String(path.split(separator: "/").last!))
        let inspection = try LogInspection.inspect(path: image)
        let synced = try #require(inspection.syncedThrough)
        let end = Int(inspection.sizeBytes)
        #expect(Int(synced) <= end)
        // Append one multi-block batch record the way the leader would, then punch a hole in its first block.
        let store = try Store.open(at: directory.path, tables: Self.kvOnly, options: { var o = StoreOptions(); o.sync = .none; o.preallocateLog = false; return o }())
        let kv = try store.table("kv")
        var big = WriteBatch()
        big.put(kv, Self.key(999), value: [UInt8](repeating: 9, count: 100_000))
        try store.write(big, sync: false)
        let live = try FileManager.default.contentsOfDirectory(atPath: directory.path).compactMap(StoreFileNames.logNumber).max()!
        let livePath = directory.file(StoreFileNames.log(live))
        let records = try LogInspection.inspect(path: livePath).records
        let bigRecord = try #require(records.last)
        let copy = TestDirectory()
        try crashImage(of: directory.path, into: copy)
        _ = store
        let copiedLive = copy.file(StoreFileNames.log(live))
        try zero(copiedLive, from: Int(bigRecord.offset), count: 4_096)

        let reopened = try Store.open(at: copy.path, tables: Self.kvOnly)
        let kvAgain = try reopened.table("kv")
        for i in 0..<20 { #expect(try reopened.get(kvAgain, Self.key(i)) != nil) }
        #expect(try reopened.get(kvAgain, Self.key(999)) == nil)
        #expect(reopened.recoveredTornTails.count == 1)
        try reopened.close()
    }

    /// Damage inside the synced region of the live segment is still
    /// corruption: the store refuses to open and names the file and offset.
    @Test func damageInTheSyncedRegionOfTheLiveSegmentIsReported() throws {
        let source = TestDirectory()
        let path = try writeSynced(source, count: 40, valueBytes: 100)
        let directory = TestDirectory()
        try crashImage(of: source.path, into: directory)
        let image = directory.file(String(path.split(separator: "/").last!))
        let records = try LogInspection.inspect(path: image).records
        let victim = records[5]
        try zero(image, from: Int(victim.offset), count: 64)
        #expect {
            _ = try Store.open(at: directory.path, tables: Self.kvOnly)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.code == .corruption && error.file == image && error.offset == victim.offset
        }
    }
}
