import Foundation
import Testing
@testable import MsgStore

@Suite struct TableBlockTypesTests {
    @Test func everyBlockTypeIsWrittenAndRead() throws {
        let (bytes, entries) = try TableCorruptionTests.sampleTable(dictionary: true)
        let directory = TemporaryDirectory()
        let path = directory.file("000001.sst")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let inspection = try SSTableInspection.inspect(path: path, includeEntries: true)
        let kinds = Set(inspection.blocks.map(\.kind))
        #expect(kinds == ["data", "index", "metaindex", "properties", "filter.bloom.key", "filter.bloom.prefix", "compression.dictionary"])
        let dataCompressions = Set(inspection.blocks.filter { $0.kind == "data" }.map(\.compression))
        #expect(dataCompressions.contains("none"), "\(dataCompressions)")
        #expect(dataCompressions.contains("zstd+dictionary"), "\(dataCompressions)")
        #expect(inspection.properties.dictionarySizeBytes > 0)
        #expect(inspection.filters.map(\.name) == ["key", "prefix"])
        #expect(inspection.entries?.count == entries.count)
        #expect(inspection.entries?.first?.userKey == entries.first?.userKey)
        #expect(SSTableInspection.verify(path: path).isEmpty)
        // Blocks tile the file up to the footer.
        var offset: UInt64 = 0
        for block in inspection.blocks {
            #expect(block.offset == offset)
            offset = block.offset + block.storedSize + UInt64(SSTableFormat.blockTrailerSize)
        }
        #expect(offset + UInt64(SSTableFormat.footerSize) == inspection.fileSize)
        #expect(try TableTesting.scan(try TableTesting.open(path)) == entries)
        // JSON-able.
        let json = try JSONEncoder().encode(inspection)
        #expect(try JSONDecoder().decode(SSTableInspection.self, from: json).blocks == inspection.blocks)
    }

    @Test func plainZstdBlocksWithoutDictionary() throws {
        let (bytes, _) = try TableCorruptionTests.sampleTable(dictionary: false)
        let directory = TemporaryDirectory()
        let path = directory.file("000002.sst")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let inspection = try SSTableInspection.inspect(path: path)
        let dataCompressions = Set(inspection.blocks.filter { $0.kind == "data" }.map(\.compression))
        #expect(dataCompressions == ["none", "zstd"])
        #expect(!inspection.blocks.contains { $0.kind == "compression.dictionary" })
    }

    @Test func keysWithoutRowPrefixGetNoPrefixFilter() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("000003.sst")
        // 0xFF as a length varint continues forever: not a RowKeyCoding key.
        let entries = (0..<50).map { i in
            TestEntry(key: InternalKey.make(userKey: [0xFF, 0xFF, UInt8(i)], sequence: 1, kind: .value), value: [UInt8(i)])
        }
        try TableTesting.build(entries, at: path)
        let table = try TableTesting.open(path)
        #expect(!table.hasPrefixFilter)
        #expect([UInt8]([9, 9]).withUnsafeBytes { table.mayContainPrefix($0) })
        #expect(try TableTesting.scan(table) == entries)
        #expect(SSTableInspection.verify(path: path).isEmpty)
    }

    @Test func prefixFilterAnswersForPresentAndAbsentPrefixes() throws {
        var rng = SeededGenerator.make("prefixFilterAnswersForPresentAndAbsentPrefixes")
        let directory = TemporaryDirectory()
        let path = directory.file("000004.sst")
        let entries = TableTesting.entries(userKeys: 2000, partitions: 200, &rng)
        try TableTesting.build(entries, at: path)
        let table = try TableTesting.open(path)
        #expect(table.hasPrefixFilter)
        var present = Set<[UInt8]>()
        for entry in entries {
            let length = entry.userKey.withUnsafeBytes { RowKeyCoding.prefixLength($0)! }
            present.insert(Array(entry.userKey[..<length]))
        }
        #expect(table.properties.prefixKeyCount == UInt64(present.count))
        for prefix in present { #expect(prefix.withUnsafeBytes { table.mayContainPrefix($0) }) }
        var falsePositives = 0
        for _ in 0..<2000 {
            let absent = TableTesting.rowKey(partition: TableTesting.randomBytes(16, &rng), sortKey: [])
            if absent.withUnsafeBytes({ table.mayContainPrefix($0) }) { falsePositives += 1 }
        }
        #expect(falsePositives < 80, "prefix false positives \(falsePositives)/2000")
    }
}
