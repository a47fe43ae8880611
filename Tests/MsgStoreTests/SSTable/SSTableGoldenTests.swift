import CZstd
import Foundation
import Testing
@testable import MsgStore

/// Format stability: a table written by format v1 is committed below (base64)
/// and must keep reading back exactly. Regenerate only with a new
/// ``FormatVersion`` (keep the old fixture and add one):
/// `MSGSTORE_WRITE_GOLDEN=/tmp/golden.sst swift test --filter TableGoldenTests`.
@Suite struct TableGoldenTests {
    /// The entries of the golden table, independent of other test helpers:
    /// 4 partitions × 12 rows, every 5th row with an older version, every 10th
    /// newest version a tombstone, every 6th value pseudo-random (stored raw).
    static func goldenEntries() -> [TestEntry] {
        var entries: [TestEntry] = []
        var lcg: UInt32 = 12345
        for i in 0..<48 {
            let partition = [UInt8](repeating: UInt8(i / 12 + 1), count: 16)
            var sortKey: [UInt8] = []
            sortKey.appendBigEndian64(1_700_000_000_000_000 + UInt64(i) * 1000)
            let userKey = TableTesting.rowKey(partition: partition, sortKey: sortKey)
            var value: [UInt8]
            if i % 6 == 0 {
                value = (0..<40).map { _ in
                    lcg = lcg &* 1_103_515_245 &+ 12345
                    return UInt8(truncatingIfNeeded: lcg >> 16)
                }
            } else {
                value = Array("message \(i): see you at the meeting tomorrow, thanks".utf8)
            }
            let sequence = UInt64(100 + 2 * i)
            if i % 5 == 0 {
                let deletion = i % 10 == 0
                entries.append(TestEntry(key: InternalKey.make(userKey: userKey, sequence: sequence, kind: deletion ? .deletion : .value), value: deletion ? [] : value))
                entries.append(TestEntry(key: InternalKey.make(userKey: userKey, sequence: sequence - 1, kind: .value), value: Array("older \(i)".utf8)))
            } else {
                entries.append(TestEntry(key: InternalKey.make(userKey: userKey, sequence: sequence, kind: .value), value: value))
            }
        }
        return entries
    }

    static var goldenOptions: SSTableOptions {
        var options = SSTableOptions()
        options.blockSizeBytes = 512
        options.restartInterval = 4
        options.compressionLevel = 3
        options.creationTimeMicros = 1_764_374_400_000_000
        return options
    }

    /// `ZSTD_versionNumber()` of the zstd that wrote the fixture (1.5.4).
    static let goldenZstdVersion: UInt32 = 10504

    @Test func writeGoldenFileWhenAsked() throws {
        guard let path = ProcessInfo.processInfo.environment["MSGSTORE_WRITE_GOLDEN"] else { return }
        try TableTesting.build(Self.goldenEntries(), at: path, options: Self.goldenOptions)
        print("zstd \(ZSTD_versionNumber())")
        print(try Data(contentsOf: URL(fileURLWithPath: path)).base64EncodedString(options: [.lineLength76Characters]))
    }

    func goldenPath(_ directory: TemporaryDirectory) throws -> String {
        let path = directory.file("000042.sst")
        let data = Data(base64Encoded: TableGoldenFixture.v1Base64, options: .ignoreUnknownCharacters)!
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func goldenV1ReadsBack() throws {
        let directory = TemporaryDirectory()
        let path = try goldenPath(directory)
        let entries = Self.goldenEntries()
        let table = try TableTesting.open(path)
        #expect(table.formatVersion == .v1)
        #expect(try TableTesting.scan(table) == entries)
        for entry in entries {
            #expect(try table.get(entry.userKey, snapshotSequence: entry.sequence) == TableRoundTripTests.expected(entries, userKey: entry.userKey, snapshot: entry.sequence))
        }
        let properties = table.properties
        #expect(properties.entryCount == UInt64(entries.count))
        #expect(properties.deletionCount == 5)
        #expect(properties.creationTimeMicros == 1_764_374_400_000_000)
        #expect(properties.compression == "zstd")
        #expect(properties.compressionLevel == 3)
        #expect(properties.smallestKey == entries.first!.key)
        #expect(properties.largestKey == entries.last!.key)
        #expect(properties.smallestSequence == 99)
        #expect(properties.largestSequence == 194)
        #expect(properties.bloomKeyCount == 48)
        #expect(properties.prefixKeyCount == 4)
        #expect(SSTableInspection.verify(path: path).isEmpty)
        let inspection = try SSTableInspection.inspect(path: path)
        #expect(Set(inspection.blocks.filter { $0.kind == "data" }.map(\.compression)) == ["zstd"] || Set(inspection.blocks.filter { $0.kind == "data" }.map(\.compression)) == ["zstd", "none"])
    }

    @Test func writerStillProducesTheGoldenBytes() throws {
        guard ZSTD_versionNumber() == Self.goldenZstdVersion else { return }  // zstd output may differ across versions
        let directory = TemporaryDirectory()
        let golden = try Data(contentsOf: URL(fileURLWithPath: try goldenPath(directory)))
        let path = directory.file("000043.sst")
        try TableTesting.build(Self.goldenEntries(), at: path, options: Self.goldenOptions)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == golden)
    }
}
