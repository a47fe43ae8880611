import Foundation
import Testing
@testable import MsgStore

@Suite struct TableRoundTripTests {
    /// The model answer of `get`: the newest version with sequence ≤ snapshot.
    static func expected(_ entries: [TestEntry], userKey: [UInt8], snapshot: UInt64) -> SSTableReader.GetResult {
        for entry in entries where entry.userKey == userKey && entry.sequence <= snapshot {
            return entry.kind == .value ? .found(value: entry.value, sequence: entry.sequence) : .deleted(sequence: entry.sequence)
        }
        return .notPresent
    }

    func checkRoundTrip(options: SSTableOptions, userKeys: Int, cache: BlockCache?, name: String) throws {
        var rng = SeededGenerator.make(name)
        let entries = TableTesting.entries(userKeys: userKeys, partitions: 20, &rng)
        let directory = TemporaryDirectory()
        let path = directory.file("000001.sst")
        let metadata = try TableTesting.build(entries, at: path, options: options)
        #expect(metadata.entryCount == UInt64(entries.count))
        #expect(metadata.smallestKey == entries.first!.key)
        #expect(metadata.largestKey == entries.last!.key)
        #expect(metadata.smallestSequence == entries.map(\.sequence).min())
        #expect(metadata.largestSequence == entries.map(\.sequence).max())
        #expect(metadata.fileSize == UInt64(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int))

        let table = try TableTesting.open(path, cache: cache)
        defer { try? table.close() }
        #expect(table.properties.entryCount == UInt64(entries.count))
        #expect(table.properties.deletionCount == UInt64(entries.filter { $0.kind == .deletion }.count))

        // Iteration returns exactly the input (twice: the second pass hits the cache).
        #expect(try TableTesting.scan(table) == entries)
        #expect(try TableTesting.scan(table) == entries)

        // Every version found at the latest snapshot and at snapshots between versions.
        var byUserKey: [[UInt8]: [TestEntry]] = [:]
        for entry in entries { byUserKey[entry.userKey, default: []].append(entry) }
        for (userKey, versions) in byUserKey {
            #expect(try table.get(userKey, snapshotSequence: InternalKey.maxSequence) == Self.expected(versions, userKey: userKey, snapshot: .max))
            for version in versions {
                for snapshot in [version.sequence, version.sequence - 1] {
                    #expect(try table.get(userKey, snapshotSequence: snapshot) == Self.expected(versions, userKey: userKey, snapshot: snapshot))
                }
            }
        }
        // Absent keys.
        for _ in 0..<200 {
            let absent = TableTesting.rowKey(partition: TableTesting.randomBytes(16, &rng), sortKey: [1, 2, 3])
            #expect(try table.get(absent, snapshotSequence: InternalKey.maxSequence) == .notPresent)
        }

        // Seeks land on the first entry at or after the target.
        let iterator = table.makeIterator()
        var targets = entries.map(\.key)
        for _ in 0..<300 {
            let base = entries[Int.random(in: 0..<entries.count, using: &rng)]
            var userKey = base.userKey
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: userKey.append(0)  // just after the user key
            case 1: userKey[userKey.count - 1] &+= 1
            default: break
            }
            targets.append(InternalKey.make(userKey: userKey, sequence: UInt64.random(in: 0...base.sequence + 2, using: &rng), kind: .value))
        }
        targets.append(InternalKey.make(userKey: [], sequence: 0, kind: .deletion))
        targets.append(InternalKey.make(userKey: [0xFF, 0xFF], sequence: 0, kind: .deletion))
        for target in targets.shuffled(using: &rng).prefix(1500) {
            var low = 0, high = entries.count  // lower bound by binary search
            while low < high {
                let mid = (low + high) / 2
                if TableTesting.compare(entries[mid].key, target) < 0 { low = mid + 1 } else { high = mid }
            }
            let expectedIndex: Int? = low < entries.count ? low : nil
            try target.withUnsafeBytes { try iterator.seek(toFirstAtOrAfter: $0) }
            if let expectedIndex {
                #expect(iterator.isValid)
                #expect(Array(iterator.key) == entries[expectedIndex].key)
                #expect(Array(iterator.value) == entries[expectedIndex].value)
                if expectedIndex + 1 < entries.count {
                    try iterator.next()
                    #expect(Array(iterator.key) == entries[expectedIndex + 1].key)
                }
            } else {
                #expect(!iterator.isValid)
            }
        }
    }

    @Test func roundTripCompressedWithCache() throws {
        var options = SSTableOptions()
        options.blockSizeBytes = 1024
        try checkRoundTrip(options: options, userKeys: 1500, cache: BlockCache(capacityBytes: 1 << 20), name: "roundTripCompressedWithCache")
    }

    @Test func roundTripUncompressedNoCache() throws {
        var options = SSTableOptions()
        options.compressionLevel = nil
        options.restartInterval = 1
        try checkRoundTrip(options: options, userKeys: 800, cache: nil, name: "roundTripUncompressedNoCache")
    }

    @Test func roundTripWithDictionaryAndTinyCache() throws {
        var options = SSTableOptions()
        options.blockSizeBytes = 512
        options.dictionary = .init(maxSizeBytes: 2048, trainingBytes: 16 << 10)
        try checkRoundTrip(options: options, userKeys: 1500, cache: BlockCache(capacityBytes: 8 << 10, shardCount: 2), name: "roundTripWithDictionaryAndTinyCache")
    }

    @Test func roundTripLargeBlocksNoFilters() throws {
        var options = SSTableOptions()
        options.blockSizeBytes = 64 << 10
        options.bloomBitsPerKey = 0
        options.prefixBitsPerKey = 0
        options.restartInterval = 128
        try checkRoundTrip(options: options, userKeys: 1000, cache: nil, name: "roundTripLargeBlocksNoFilters")
    }

    @Test func emptyTable() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("000002.sst")
        let metadata = try TableTesting.build([], at: path)
        #expect(metadata.entryCount == 0)
        let table = try TableTesting.open(path)
        #expect(try TableTesting.scan(table).isEmpty)
        #expect(try table.get([1, 2, 3], snapshotSequence: 10) == .notPresent)
        let iterator = table.makeIterator()
        try InternalKey.make(userKey: [1], sequence: 1, kind: .value).withUnsafeBytes { try iterator.seek(toFirstAtOrAfter: $0) }
        #expect(!iterator.isValid)
        #expect(SSTableInspection.verify(path: path).isEmpty)
    }

    @Test func singleLargeValueSpansOneBlock() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("000003.sst")
        var rng = SeededGenerator(seed: 3)
        let big = TableTesting.randomBytes(100_000, &rng)
        let entries = [
            TestEntry(key: InternalKey.make(userKey: TableTesting.rowKey(partition: [UInt8](repeating: 1, count: 16), sortKey: [1]), sequence: 5, kind: .value), value: big),
            TestEntry(key: InternalKey.make(userKey: TableTesting.rowKey(partition: [UInt8](repeating: 1, count: 16), sortKey: [2]), sequence: 4, kind: .value), value: [UInt8](repeating: 7, count: 50_000)),
        ]
        try TableTesting.build(entries, at: path)
        let table = try TableTesting.open(path)
        #expect(try TableTesting.scan(table) == entries)
        #expect(try table.get(entries[1].userKey, snapshotSequence: 9) == .found(value: entries[1].value, sequence: 4))
        #expect(SSTableInspection.verify(path: path).isEmpty)
    }

    @Test func concurrentReadersShareOneTable() async throws {
        var rng = SeededGenerator(seed: 11)
        let entries = TableTesting.entries(userKeys: 600, partitions: 10, &rng)
        let directory = TemporaryDirectory()
        let path = directory.file("000004.sst")
        var options = SSTableOptions()
        options.blockSizeBytes = 512
        try TableTesting.build(entries, at: path, options: options)
        let table = try TableTesting.open(path, cache: BlockCache(capacityBytes: 16 << 10, shardCount: 4))
        let newest = Dictionary(entries.map { ($0.userKey, $0) }, uniquingKeysWith: { first, _ in first })
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for (index, (userKey, entry)) in newest.enumerated() where index % 4 == worker {
                        let result = try table.get(userKey, snapshotSequence: InternalKey.maxSequence)
                        let expected: SSTableReader.GetResult = entry.kind == .value ? .found(value: entry.value, sequence: entry.sequence) : .deleted(sequence: entry.sequence)
                        #expect(result == expected)
                    }
                    #expect(try TableTesting.scan(table) == entries)
                }
            }
            try await group.waitForAll()
        }
    }
}
