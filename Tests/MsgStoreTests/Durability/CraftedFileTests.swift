import Foundation
import Testing
@testable import MsgStore

/// Files whose checksums are right but whose numbers are hostile (crafted,
/// or written by a buggy version) give errors naming the file — never a
/// trap, a runaway allocation or a wrong answer. Defect 9 of the durability
/// review; each of these trapped or ran away before.
@Suite struct CraftedFileTests {
    static let kvOnly = [TableSchema(name: "kv", partitionCount: 1)]

    /// A store directory with its SCHEMA and manifest, closed.
    func makeStore() throws -> TestDirectory {
        let directory = TestDirectory()
        let store = try Store.open(at: directory.path, tables: Self.kvOnly)
        try store.close()
        return directory
    }

    /// Writes `records` framed as a log file at `path`.
    func writeLog(_ path: String, _ records: [[UInt8]]) throws {
        let file = try PosixFileSystem().open(path, mode: .createTruncate)
        let writer = LogWriter(file: file)
        for record in records { writer.append(record) }
        try writer.flush()
        try file.close()
    }

    @Test func aLogBatchWithASequenceNear2To64IsCorruption() throws {
        let directory = try makeStore()
        let table = Table(name: "kv", id: tableId(for: "kv"), partitionCount: 1, indexKind: nil, hasIndexes: false)
        var batch = WriteBatch()
        batch.put(table, RowKey(partitionKey: [1]), value: [1])
        batch.put(table, RowKey(partitionKey: [2]), value: [2])
        batch.writeHeader(baseSequence: UInt64.max, timestamp: 1)
        let path = directory.file(StoreFileNames.log(90))
        try writeLog(path, [batch.bytes])
        #expect {
            _ = try Store.open(at: directory.path, tables: Self.kvOnly)
        } throws: { error in
            let error = error as! StoreError
            return error.code == .corruption && error.file == path && error.offset == 0
        }
    }

    @Test func aManifestWithAFileNumberNear2To64IsCorruption() throws {
        let directory = try makeStore()
        var state = VersionState()
        state.nextFileNumber = 10
        var edit = state.snapshotEdit()
        edit.nextFileNumber = UInt64.max
        let manifest = directory.file(StoreFileNames.manifest(91))
        try writeLog(manifest, [edit.encode()])
        try PosixFileSystem().writeAtomically(Array((StoreFileNames.manifest(91) + "\n").utf8), to: directory.file("CURRENT"))
        #expect {
            _ = try Store.open(at: directory.path, tables: Self.kvOnly)
        } throws: { error in
            let error = error as! StoreError
            return error.code == .corruption && error.file == manifest
        }
    }

    @Test func aSchemaWith2To32PartitionsIsCorruption() throws {
        let directory = try makeStore()
        var catalog = SchemaCatalog()
        catalog.entries.append(.init(id: tableId(for: "kv"), name: "kv", partitionCount: 1, kind: 0))
        catalog.entries.append(.init(id: tableId(for: "ghost"), name: "ghost", partitionCount: Int(UInt32.max), kind: 0))
        try PosixFileSystem().writeAtomically(catalog.encode(), to: directory.file(StoreFileNames.schema))
        #expect {
            _ = try Store.open(at: directory.path, tables: Self.kvOnly)
        } throws: { error in
            let error = error as! StoreError
            return error.code == .corruption && error.file == directory.file(StoreFileNames.schema)
        }
    }

    @Test func inspectRendersAnyStampAndKeyWithoutTrapping() {
        let renderer = HexKeyRenderer()
        #expect(renderer.render(commitStamp: Int64.min) == "\(Int64.min)µs")
        #expect(renderer.render(commitStamp: Int64.max) == "\(Int64.max)µs")
        #expect(renderer.render(table: "kv", userKey: RowKeyCoding.encode(RowKey(partitionKey: [1, 0xAB], sortKey: [3]))) == "01ab | 03")
        #expect(renderer.render(table: "kv", userKey: RowKeyCoding.encode(RowKey(partitionKey: [7]))) == "07")
        // A length prefix longer than the key: not a row key.
        #expect(renderer.render(table: "kv", userKey: [5, 1]) == "hex:0501")
        #expect(renderer.render(table: "kv", value: []) == "(empty)")
        #expect(renderer.render(table: "kv", value: Array("hi".utf8)) == "\"hi\"")
        #expect(renderer.render(table: "kv", value: [0, 1]) == "hex:0001")
    }

    /// Defect 16: blocks of a deleted SSTable stayed in the block cache until
    /// evicted (memory held for files that can never be read again).
    @Test func blocksOfDeletedTablesLeaveTheCache() throws {
        let directory = TestDirectory()
        var options = StoreOptions()
        options.sync = .none
        options.level0CompactionTrigger = 100
        let store = try Store.open(at: directory.path, tables: Self.kvOnly, options: options)
        let kv = try store.table("kv")
        for part in 0..<3 {
            var batch = WriteBatch()
            for i in stride(from: part, to: 600, by: 3) { batch.put(kv, RowKey(partitionKey: [UInt8(i % 256), UInt8(i / 256)]), value: [UInt8](repeating: 1, count: 100)) }
            try store.write(batch)
            try store.flush()
        }
        let before = try FileManager.default.contentsOfDirectory(atPath: directory.path).compactMap(StoreFileNames.tableNumber)
        #expect(before.count == 3)
        for i in 0..<600 { _ = try store.get(kv, RowKey(partitionKey: [UInt8(i % 256), UInt8(i / 256)])) }
        #expect(before.contains { store.engine.blockCache.holdsBlocks(ofFile: $0) })
        try store.settle()  // compacts the three files into new ones
        let after = try FileManager.default.contentsOfDirectory(atPath: directory.path).compactMap(StoreFileNames.tableNumber)
        #expect(Set(after).isDisjoint(with: before))
        for number in before { #expect(!store.engine.blockCache.holdsBlocks(ofFile: number), "file \(number) still cached") }
        try store.close()
    }
}
