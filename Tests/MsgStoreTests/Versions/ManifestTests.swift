import Foundation
import Testing
@testable import MsgStore

@Suite struct ManifestTests {
    static var smallOptions: StoreOptions {
        var options = StoreOptions()
        options.sync = .none
        options.memtableBytes = 4 << 10
        options.level0CompactionTrigger = 2
        options.levelBaseBytes = 16 << 10
        options.targetFileBytes = 8 << 10
        options.dictionaryBytes = 0
        return options
    }

    /// Writes enough rows to flush and compact, settles, closes; returns the rows.
    func populate(_ directory: TestDirectory) throws -> [RowKey: [UInt8]] {
        let store = try TestSchema.open(directory, options: Self.smallOptions)
        let kv = try store.table("kv")
        var rows: [RowKey: [UInt8]] = [:]
        for i in 0..<400 {
            var batch = WriteBatch()
            let key = RowKey(partitionKey: [UInt8(i % 7)], sortKey: [UInt8(i / 256), UInt8(i % 256)])
            let value = [UInt8](repeating: UInt8(i % 251), count: 40)
            batch.put(kv, key, value: value)
            rows[key] = value
            try store.write(batch)
        }
        try store.settle()
        #expect(store.statistics.flushes > 0)
        try store.close()
        return rows
    }

    func check(_ directory: TestDirectory, _ rows: [RowKey: [UInt8]]) throws -> Store {
        let store = try TestSchema.open(directory, options: Self.smallOptions)
        let kv = try store.table("kv")
        for (key, value) in rows { #expect(try store.get(kv, key) == value) }
        return store
    }

    @Test func editsRoundTrip() {
        var edit = VersionEdit()
        edit.nextFileNumber = 42
        edit.lastSequence = 1 << 40
        edit.lastTimestamp = 1_717_200_034_288_569
        edit.logNumber = 7
        edit.flushed[PartitionID(tableId: 9, partition: 3)] = 99
        edit.deletedFiles.append((PartitionID(tableId: 9, partition: 3), 1, 12))
        edit.addedFiles.append((PartitionID(tableId: 9, partition: 3), 2, FileMetadata(
            number: 13, size: 4096, entries: 10, smallestSequence: 1, largestSequence: 9,
            smallest: [1, 2, 3] + [UInt8](repeating: 0, count: 8), largest: [4, 5] + [UInt8](repeating: 1, count: 8))))
        let bytes = edit.encode()
        let decoded = bytes.withUnsafeBytes { VersionEdit.decode($0) }
        #expect(decoded == edit)
        // Truncations and an unknown tag are rejected, never misread.
        for cut in 1..<bytes.count {
            let prefix = Array(bytes[..<cut])
            if let partial = prefix.withUnsafeBytes({ VersionEdit.decode($0) }) { #expect(partial != edit) }
        }
        #expect([UInt8]([99, 1]).withUnsafeBytes { VersionEdit.decode($0) } == nil)
    }

    @Test func tornManifestTailIsIgnored() throws {
        let directory = TestDirectory()
        let rows = try populate(directory)
        let current = try String(contentsOfFile: directory.file("CURRENT"), encoding: .utf8).trimmingCharacters(in: .newlines)
        // A crash in the middle of appending an edit: a partial record at the end.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.file(current)))
        handle.seekToEndOfFile()
        handle.write(Data([0x12, 0x34, 0x56, 0x78, 0xFF, 0x00, 0x01, 0xAA, 0xBB]))
        try handle.close()
        let store = try check(directory, rows)
        try store.close()
        #expect(StoreVerifier.verify(path: directory.path).isSound)
    }

    @Test func missingCurrentFallsBackToTheNewestManifest() throws {
        let directory = TestDirectory()
        let rows = try populate(directory)
        try FileManager.default.removeItem(atPath: directory.file("CURRENT"))
        let inspection = try DirectoryInspection.inspect(path: directory.path)
        #expect(inspection.notes.contains { $0.contains("CURRENT is missing") })
        let store = try check(directory, rows)
        try store.close()
        #expect(FileManager.default.fileExists(atPath: directory.file("CURRENT")))
    }

    @Test func corruptManifestFailsOpenWithFileAndOffset() throws {
        let directory = TestDirectory()
        _ = try populate(directory)
        let current = try String(contentsOfFile: directory.file("CURRENT"), encoding: .utf8).trimmingCharacters(in: .newlines)
        let path = directory.file(current)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(data.count > 40)
        data[10] ^= 0x55  // inside the first record (the snapshot), with more records after it
        try data.write(to: URL(fileURLWithPath: path))
        #expect { _ = try TestSchema.open(directory, options: Self.smallOptions) } throws: { error in
            let error = error as! StoreError
            return error.code == .corruption && error.file == path && error.offset != nil
        }
        #expect(!StoreVerifier.verify(path: directory.path).isSound)
    }

    @Test func missingSSTableFailsOpenNamingIt() throws {
        let directory = TestDirectory()
        _ = try populate(directory)
        let table = try FileManager.default.contentsOfDirectory(atPath: directory.path).first { $0.hasSuffix(".sst") }!
        try FileManager.default.removeItem(atPath: directory.file(table))
        #expect { _ = try TestSchema.open(directory, options: Self.smallOptions) } throws: { error in
            (error as! StoreError).code == .corruption && (error as! StoreError).file == directory.file(table)
        }
        let report = StoreVerifier.verify(path: directory.path)
        #expect(report.problems.contains { $0.file == directory.file(table) })
    }

    @Test func obsoleteFilesAreRemovedAtOpen() throws {
        let directory = TestDirectory()
        let rows = try populate(directory)
        _ = FileManager.default.createFile(atPath: directory.file("999999.sst"), contents: Data([1, 2, 3]))
        _ = FileManager.default.createFile(atPath: directory.file("CURRENT.tmp"), contents: Data([1]))
        let store = try check(directory, rows)
        try store.close()
        #expect(!FileManager.default.fileExists(atPath: directory.file("999999.sst")))
        #expect(!FileManager.default.fileExists(atPath: directory.file("CURRENT.tmp")))
        let manifests = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix("MANIFEST-") }
        #expect(manifests.count == 1)
    }
}
