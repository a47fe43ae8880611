import Foundation
import Testing
@testable import MsgStore

/// Writes the synthetic part of the fuzz seed corpus (Fuzz/corpus; called by
/// Fuzz/make-seeds.sh): files the real data directories do not show — an
/// SSTable with a zstd dictionary, one stored uncompressed with tombstones,
/// the golden v1 SSTable, a WAL segment with stamps, a checkpoint and a batch
/// spanning two blocks, a queue segment with dead letters and a record
/// spanning two blocks, a consumer state with ranges, deltas and delivery counts.
/// Does nothing unless `MSGSTORE_WRITE_FUZZ_SEEDS` names the corpus directory.
@Suite struct FuzzSeedWriter {
    @Test func writeFuzzSeedsWhenAsked() throws {
        guard let corpus = ProcessInfo.processInfo.environment["MSGSTORE_WRITE_FUZZ_SEEDS"] else { return }
        let fileSystem = PosixFileSystem()

        // SSTables.
        var entries: [TestEntry] = []
        for i in 0..<300 {
            let userKey = TableTesting.rowKey(partition: Array("user-\(i % 7)".utf8), sortKey: withUnsafeBytes(of: UInt64(i).bigEndian) { Array($0) })
            let value = Array("{\"sender\":\"6ba7b810-9dad-11d1-80b4-00c04fd430c8\",\"content\":\"message \(i)\"}".utf8)
            entries.append(TestEntry(key: InternalKey.make(userKey: userKey, sequence: UInt64(1000 + i), kind: i % 11 == 0 ? .deletion : .value),
                                     value: i % 11 == 0 ? [] : value))
        }
        entries.sort { left, right in left.key.withUnsafeBytes { a in right.key.withUnsafeBytes { b in InternalKey.compare(a, b) < 0 } } }
        var dictionary = SSTableOptions()
        dictionary.blockSizeBytes = 1024
        dictionary.dictionary = .init(maxSizeBytes: 2048, trainingBytes: 16 << 10)
        try TableTesting.build(entries, at: corpus + "/sstable/dictionary.sst", options: dictionary)
        var plain = SSTableOptions()
        plain.compressionLevel = nil
        plain.restartInterval = 3
        plain.blockSizeBytes = 2048
        plain.prefixBitsPerKey = 0
        try TableTesting.build(Array(entries.prefix(80)), at: corpus + "/sstable/uncompressed.sst", options: plain)
        try Data(base64Encoded: TableGoldenFixture.v1Base64, options: .ignoreUnknownCharacters)!
            .write(to: URL(fileURLWithPath: corpus + "/sstable/golden-v1.sst"))

        func writeLog(_ path: String, _ records: [[UInt8]]) throws {
            let file = try fileSystem.open(path, mode: .createTruncate)
            let writer = LogWriter(file: file)
            for record in records { writer.append(record) }
            try writer.flush()
            try file.close()
        }

        // A WAL segment: batches with stamps, an index-like table, a synced-length
        // checkpoint, and a batch spanning two blocks.
        let table = Table(name: "kv", id: tableId(for: "kv"), partitionCount: 4, indexKind: nil, hasIndexes: false)
        var log: [[UInt8]] = []
        for (index, valueBytes) in [12, 300, 33 << 10, 40].enumerated() {
            var batch = WriteBatch()
            let key = RowKey(partitionKey: Array("user-\(index)".utf8), sortKey: [UInt8](repeating: 0, count: 8) + [UInt8(index)])
            batch.put(table, key, value: [UInt8](repeating: UInt8(index), count: valueBytes), stampSortKeyAt: 0)
            batch.insert(table, RowKey(partitionKey: [1], sortKey: [2, 3]), value: [UInt8](repeating: 7, count: 8), stampValueAt: 0)
            batch.delete(table, RowKey(partitionKey: [9]))
            batch.writeHeader(baseSequence: UInt64(10 + 3 * index), timestamp: 1_764_374_400_000_000 + Int64(index))
            log.append(batch.bytes)
            if index == 1 { log.append(withUnsafeBytes(of: (UInt64(0), UInt64(120).littleEndian)) { Array($0) }) }
        }
        try writeLog(corpus + "/wal/spanning.log", log)

        // A queue segment with dead letters and a record spanning two blocks, and a consumer state.
        var records = [QueueSegmentHeader(segment: 1, firstSequence: 3).encoded()]
        for sequence in UInt64(3)...9 {
            let deadLetter = sequence % 3 == 0 ? DeadLetterInfo(originalSequence: sequence * 10, reason: "attempt \(sequence) failed: timeout") : nil
            let payload = sequence == 7 ? [UInt8](repeating: UInt8(ascii: "x"), count: 33 << 10) : Array("payload \(sequence)".utf8)
            records.append(QueueRecord(sequence: sequence, enqueuedAtMicros: 1_764_374_400_000_000 + Int64(sequence),
                                       attempts: UInt32(sequence % 4), deadLetter: deadLetter, payload: payload).encoded())
        }
        try writeLog(corpus + "/queue/dead-letters.qlog", records)
        try writeLog(corpus + "/queue-state/ranges", [
            AckedSequences(lowWater: 4, ranges: [6..<8, 12..<20]).encodedSnapshot(),
            AckedSequences.encodedDelta([4..<5, 9..<10]),
            ConsumerState.encodedDeliveries([(sequence: 5, attempt: 2), (sequence: 11, attempt: 1)]),
            AckedSequences.encodedDelta([30..<31]),
        ])
    }
}
