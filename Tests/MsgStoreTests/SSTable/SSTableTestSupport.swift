import Foundation
import Testing
@testable import MsgStore

extension SeededGenerator {
    /// A generator seeded from `MSGSTORE_SEED` or at random; prints the seed.
    static func make(_ test: String) -> SeededGenerator {
        SeededGenerator(seed: testSeed(test))
    }
}

/// The table tests' name for ``TestDirectory``.
typealias TemporaryDirectory = TestDirectory

/// One entry of a test table.
struct TestEntry: Equatable {
    var key: [UInt8]  // internal key
    var value: [UInt8]
    var userKey: [UInt8] { Array(key[..<(key.count - 8)]) }
    var sequence: UInt64 { key.withUnsafeBytes { InternalKey.sequence($0) } }
    var kind: InternalKey.Kind { key.withUnsafeBytes { InternalKey.kind($0)! } }
}

enum TableTesting {
    static let fileSystem = PosixFileSystem()

    /// A row user key: varint(16) ‖ partition(16) ‖ sortKey.
    static func rowKey(partition: [UInt8], sortKey: [UInt8]) -> [UInt8] {
        var key: [UInt8] = []
        partition.withUnsafeBytes { p in sortKey.withUnsafeBytes { s in RowKeyCoding.append(partitionKey: p, sortKey: s, to: &key) } }
        return key
    }

    static func randomBytes(_ count: Int, _ rng: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    static let words = ["hello", "see", "you", "at", "the", "meeting", "tomorrow", "thanks", "ok", "lunch",
                        "project", "update", "sounds", "good", "call", "me", "later", "when", "are", "we",
                        "shipping", "release", "deploy", "review", "please", "coffee", "weekend", "great"]

    static func text(_ rng: inout SeededGenerator, words count: Int) -> [UInt8] {
        Array((0..<count).map { _ in words[Int.random(in: 0..<words.count, using: &rng)] }.joined(separator: " ").utf8)
    }

    /// Sorted entries: `userKeys` row keys over a few partitions, 1–3 versions
    /// each (newest first), about 10% tombstones; values mix text and random bytes.
    static func entries(userKeys: Int, partitions: Int, _ rng: inout SeededGenerator) -> [TestEntry] {
        let partitionKeys = (0..<partitions).map { _ in randomBytes(16, &rng) }
        var userKeySet = Set<[UInt8]>()
        var userKeyList: [[UInt8]] = []  // in generation order: Set order varies per process
        while userKeyList.count < userKeys {
            let partition = partitionKeys[Int.random(in: 0..<partitions, using: &rng)]
            var sortKey: [UInt8] = []
            sortKey.appendBigEndian64(UInt64.random(in: 0..<1_000_000, using: &rng))
            sortKey += randomBytes(Int.random(in: 0...4, using: &rng), &rng)
            let key = rowKey(partition: partition, sortKey: sortKey)
            if userKeySet.insert(key).inserted { userKeyList.append(key) }
        }
        var result: [TestEntry] = []
        var sequence: UInt64 = 1
        for userKey in userKeyList {
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                sequence += UInt64.random(in: 1...3, using: &rng)
                let deletion = Int.random(in: 0..<10, using: &rng) == 0
                let value: [UInt8] = deletion ? [] : (Bool.random(using: &rng)
                    ? text(&rng, words: Int.random(in: 1...20, using: &rng))
                    : randomBytes(Int.random(in: 0...60, using: &rng), &rng))
                result.append(TestEntry(key: InternalKey.make(userKey: userKey, sequence: sequence, kind: deletion ? .deletion : .value), value: value))
            }
        }
        result.sort { compare($0.key, $1.key) < 0 }
        return result
    }

    /// Writes `entries` to `path` and returns the metadata.
    @discardableResult
    static func build(_ entries: [TestEntry], at path: String, options: SSTableOptions = SSTableOptions()) throws -> SSTableMetadata {
        let file = try fileSystem.open(path, mode: .createTruncate)
        defer { try? file.close() }
        let builder = SSTableBuilder(file: file, options: options)
        for entry in entries { try builder.add(key: entry.key, value: entry.value) }
        return try builder.finish()
    }

    static func open(_ path: String, cache: BlockCache? = nil, fileNumber: UInt64 = 1) throws -> SSTableReader {
        try SSTableReader.open(fileSystem: fileSystem, path: path, fileNumber: fileNumber, cache: cache)
    }

    /// Every entry, by iterating from the first.
    static func scan(_ table: SSTableReader) throws -> [TestEntry] {
        let iterator = table.makeIterator()
        var result: [TestEntry] = []
        try iterator.seekToFirst()
        while iterator.isValid {
            result.append(TestEntry(key: Array(iterator.key), value: Array(iterator.value)))
            try iterator.next()
        }
        return result
    }

    static func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
        a.withUnsafeBytes { a in b.withUnsafeBytes { b in InternalKey.compare(a, b) } }
    }
}
