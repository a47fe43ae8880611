import Foundation
import Testing
@testable import MsgStore

@Suite struct TableCorruptionTests {
    /// A small table with several compressed and raw data blocks, a dictionary,
    /// both filters, properties, metaindex and index.
    static func sampleTable(dictionary: Bool) throws -> (bytes: [UInt8], entries: [TestEntry]) {
        var rng = SeededGenerator(seed: 77)
        var entries = TableTesting.entries(userKeys: dictionary ? 400 : 60, partitions: 4, &rng)
        // Make a run of values incompressible so that some blocks are stored raw.
        for index in entries.indices where (index / 8) % 4 == 0 && entries[index].kind == .value {
            entries[index].value = TableTesting.randomBytes(90, &rng)
        }
        let directory = TemporaryDirectory()
        let path = directory.file("000001.sst")
        var options = SSTableOptions()
        options.blockSizeBytes = 256
        options.restartInterval = 4
        options.creationTimeMicros = 1_700_000_000_000_000
        if dictionary { options.dictionary = .init(maxSizeBytes: 1024, trainingBytes: 8 << 10) }
        try TableTesting.build(entries, at: path, options: options)
        return (Array(try Data(contentsOf: URL(fileURLWithPath: path))), entries)
    }

    /// Reads everything a caller can: open, full scan, a get per key. Returns
    /// the entries seen before any error, and the error.
    static func readAll(_ path: String, entries: [TestEntry]) -> (seen: [TestEntry], gets: [(TestEntry, SSTableReader.GetResult)], error: Error?) {
        var seen: [TestEntry] = []
        var gets: [(TestEntry, SSTableReader.GetResult)] = []
        do {
            let table = try TableTesting.open(path)
            defer { try? table.close() }
            let iterator = table.makeIterator()
            try iterator.seekToFirst()
            while iterator.isValid {
                seen.append(TestEntry(key: Array(iterator.key), value: Array(iterator.value)))
                try iterator.next()
            }
            for entry in entries.enumerated().filter({ $0.offset % 8 == 0 }).map(\.element) {
                gets.append((entry, try table.get(entry.userKey, snapshotSequence: entry.sequence)))
            }
            return (seen, gets, nil)
        } catch {
            return (seen, gets, error)
        }
    }

    func flipBytes(dictionary: Bool, name: String) throws {
        let (original, entries) = try Self.sampleTable(dictionary: dictionary)
        let directory = TemporaryDirectory()
        let path = directory.file("000009.sst")
        var rng = SeededGenerator.make(name)
        // Sample positions across the whole file, plus the whole footer and the last blocks.
        var positions = Set<Int>()
        let stride = Swift.max(1, original.count / 250)
        for start in Swift.stride(from: 0, to: original.count, by: stride) {
            positions.insert(Swift.min(original.count - 1, start + Int.random(in: 0..<stride, using: &rng)))
        }
        for position in Swift.max(0, original.count - 150)..<original.count { positions.insert(position) }
        let inspection = try {
            try Data(original).write(to: URL(fileURLWithPath: path))
            return try SSTableInspection.inspect(path: path)
        }()
        for block in inspection.blocks {
            positions.insert(Int(block.offset))
            positions.insert(Int(block.offset + block.storedSize))  // trailer's type byte
            positions.insert(Int(block.offset + block.storedSize) + 8)  // last CRC byte
        }
        var checked = 0
        for position in positions.sorted() {
            var bytes = original
            bytes[position] ^= UInt8.random(in: 1...255, using: &rng)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let problems = SSTableInspection.verify(path: path)
            #expect(!problems.isEmpty, "verify missed a flipped byte at \(position)")
            let (seen, gets, error) = Self.readAll(path, entries: entries)
            // Never wrong data: what was returned before the error is a prefix of the truth.
            #expect(seen == Array(entries.prefix(seen.count)), "wrong data returned with a flipped byte at \(position)")
            for (entry, result) in gets {
                #expect(result == TableRoundTripTests.expected(entries, userKey: entry.userKey, snapshot: entry.sequence), "wrong get with a flipped byte at \(position)")
            }
            guard let error = error as? StoreError else {
                Issue.record("no corruption error with a flipped byte at \(position): \(String(describing: error))")
                continue
            }
            #expect(error.code == .corruption, "at \(position): \(error)")
            #expect(error.file == path)
            #expect(error.offset != nil)
            checked += 1
        }
        #expect(checked == positions.count)
    }

    @Test func flippedByteAnywhereIsDetected() throws {
        try flipBytes(dictionary: false, name: "flippedByteAnywhereIsDetected")
    }

    @Test func flippedByteInDictionaryTableIsDetected() throws {
        try flipBytes(dictionary: true, name: "flippedByteInDictionaryTableIsDetected")
    }

    @Test func truncatedFilesAreCorrupt() throws {
        let (original, entries) = try Self.sampleTable(dictionary: false)
        let directory = TemporaryDirectory()
        let path = directory.file("000010.sst")
        for length in [0, 1, 55, 56, original.count / 2, original.count - 57, original.count - 1] {
            try Data(original.prefix(length)).write(to: URL(fileURLWithPath: path))
            #expect(!SSTableInspection.verify(path: path).isEmpty)
            let (_, _, error) = Self.readAll(path, entries: entries)
            #expect((error as? StoreError)?.code == .corruption, "length \(length)")
        }
    }

    @Test func blockWithBadRestartArrayIsCorrupt() throws {
        for bytes: [UInt8] in [[], [1, 0, 0], [0, 0, 0, 0], [9, 0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]] {
            #expect(throws: StoreError.self) { try Block.make(copying: bytes, file: "x", fileOffset: 0) }
        }
    }

    @Test func entryOverrunningItsBlockIsCorrupt() throws {
        // One entry claiming a 100-byte value in a 10-byte block.
        let bytes: [UInt8] = [0, 8, 100, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 1, 0, 0, 0]
        let block = try Block.make(copying: bytes, file: "x.sst", fileOffset: 42)
        var cursor = BlockCursor(block: block, keyBuffer: ScratchBuffer(), internalKeys: true)
        #expect(throws: StoreError.self) { try cursor.seekToFirst() }
        #expect(!cursor.isValid)
    }

    @Test func randomBlockBytesNeverCrash() throws {
        var rng = SeededGenerator.make("randomBlockBytesNeverCrash")
        var builder = BlockBuilder(restartInterval: 3)
        for i in 0..<20 { builder.add(InternalKey.make(userKey: [1, 2, UInt8(i)], sequence: UInt64(i), kind: .value), [UInt8](repeating: UInt8(i), count: i)) }
        let valid = builder.finish()
        let target = InternalKey.make(userKey: [1, 2, 9], sequence: 5, kind: .value)
        for _ in 0..<3000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            guard let block = try? Block.make(copying: bytes, file: "fuzz", fileOffset: 0) else { continue }
            var cursor = BlockCursor(block: block, keyBuffer: ScratchBuffer(), internalKeys: true)
            var steps = 0
            do {
                try cursor.seekToFirst()
                while cursor.isValid && steps < 100 { _ = cursor.key.count + cursor.value.count; try cursor.next(); steps += 1 }
                try target.withUnsafeBytes { try cursor.seek(toFirstAtOrAfter: $0) }
            } catch let error as StoreError {
                #expect(error.code == .corruption)
            }
        }
    }

    @Test func shortInternalKeyIsCorrupt() throws {
        var builder = BlockBuilder(restartInterval: 16)
        builder.add([1, 2, 3], [4])
        let block = try Block.make(copying: builder.finish(), file: "x.sst", fileOffset: 0)
        var cursor = BlockCursor(block: block, keyBuffer: ScratchBuffer(), internalKeys: true)
        #expect(throws: StoreError.self) { try cursor.seekToFirst() }
    }

    @Test func newerFormatVersionIsUnsupported() throws {
        let (original, _) = try Self.sampleTable(dictionary: false)
        var bytes = original
        let footer = bytes.count - SSTableFormat.footerSize
        bytes[footer + 40] = 99
        let crc = CRC32C.mask(CRC32C.checksum(Array(bytes[footer..<(footer + 44)])))
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[footer + 44 + i] = $0[i] } }
        let directory = TemporaryDirectory()
        let path = directory.file("000011.sst")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect { try TableTesting.open(path) } throws: { ($0 as? StoreError)?.code == .unsupportedFormat }
    }
}
