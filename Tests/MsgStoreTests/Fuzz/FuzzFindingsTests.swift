import Foundation
import Testing
@testable import MsgStore

/// What the decoder fuzzers (Tools/fuzz.sh; docs/reliability.md, "Fuzzing")
/// found, one test each: bytes whose checksums are right but whose contents
/// are hostile give a corruption error naming the file and offset — never a
/// trap, and never an error that does not say where. Each failed before its fix.
@Suite struct FuzzFindingsTests {
    let fileSystem = PosixFileSystem()

    /// Writes `records` framed as a log file at `path`; returns the offset of each.
    @discardableResult
    func writeLog(_ path: String, _ records: [[UInt8]]) throws -> [Int64] {
        let file = try fileSystem.open(path, mode: .createTruncate)
        let writer = LogWriter(file: file)
        var offsets: [Int64] = []
        for record in records {
            offsets.append(writer.length)
            writer.append(record)
        }
        try writer.flush()
        try file.close()
        return offsets
    }

    /// Runs `body`, which must throw a corruption error naming `file` at `offset`.
    func expectCorruption(file: String, offset: Int64? = nil, _ body: () throws -> Void) {
        #expect {
            try body()
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.code == .corruption && error.file == file && error.offset != nil && (offset == nil || error.offset == offset)
        }
    }

    // MARK: Manifest

    /// manifest target: an edit that deletes a file which is not live was
    /// reported without the offset of the edit.
    @Test func aManifestEditDeletingAFileNotLiveNamesItsOffset() throws {
        let directory = TestDirectory()
        var first = VersionState().snapshotEdit()
        first.nextFileNumber = 40
        var second = VersionEdit()
        second.deletedFiles.append((PartitionID(tableId: 7, partition: 0), 0, 37))
        let path = directory.file(StoreFileNames.manifest(1))
        let offsets = try writeLog(path, [first.encode(), second.encode()])
        try fileSystem.writeAtomically(Array((StoreFileNames.manifest(1) + "\n").utf8), to: directory.file(StoreFileNames.current))
        expectCorruption(file: path, offset: offsets[1]) {
            _ = try Manifest.load(directory: directory.path, fileSystem: fileSystem)
        }
    }

    // MARK: SSTables

    /// sstable target: a data block whose restart array points at an entry
    /// that shares a prefix with the one before (not a whole key). Reading in
    /// order never looks at restart points, so `verify` (and a scan) found
    /// the file sound, while a `get` or seek — a binary search over the
    /// restart points — failed on it. A block is now checked when it is
    /// loaded: every restart point must start a whole key.
    @Test func aRestartPointInsideAPrefixRunIsCorruptionForEveryReader() throws {
        let directory = TestDirectory()
        let path = directory.file("000001.sst")
        var entries: [TestEntry] = []
        for i in 0..<6 {
            let userKey = Array("user-00\(i)".utf8)
            entries.append(TestEntry(key: InternalKey.make(userKey: userKey, sequence: UInt64(10 + i), kind: .value), value: [UInt8(i)]))
        }
        var options = SSTableOptions()
        options.compressionLevel = nil
        options.restartInterval = 2
        try TableTesting.build(entries, at: path, options: options)

        // The only data block: point restart 1 at entry 1 (which shares "user-00" with entry 0), fix the CRC.
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let table = try TableTesting.open(path)
        var index = BlockCursor(block: table.indexBlock, keyBuffer: ScratchBuffer(), internalKeys: true)
        try index.seekToFirst()
        let handle = try table.decodeHandle(index.value)
        var cursor = BlockCursor(block: try table.readDataBlockUncached(handle), keyBuffer: ScratchBuffer(), internalKeys: true)
        try cursor.seekToFirst()
        try cursor.next()
        let entry1 = UInt32(cursor.current)
        try table.close()
        let size = Int(handle.size)
        let restartCount = Int(bytes[size - 4])
        #expect(restartCount == 3)
        let restart1 = size - 4 - 4 * restartCount + 4
        for i in 0..<4 { bytes[restart1 + i] = UInt8(truncatingIfNeeded: entry1 >> (8 * UInt32(i))) }
        let crc = CRC32C.mask(bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[..<(size + 5)])) })
        for i in 0..<4 { bytes[size + 5 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let problems = SSTableInspection.verify(path: path, fileSystem: fileSystem)
        #expect(problems.first?.offset == 0 && problems.first?.message.contains("restart") == true, "verify: \(problems)")
        let reopened = try TableTesting.open(path)
        defer { try? reopened.close() }
        expectCorruption(file: path, offset: 0) { _ = try TableTesting.scan(reopened) }
        for entry in entries {
            expectCorruption(file: path, offset: 0) { _ = try reopened.get(entry.userKey, snapshotSequence: entry.sequence) }
        }
    }

    // MARK: SCHEMA

    static let kvOnly = [TableSchema(name: "kv", partitionCount: 1)]

    /// schema target: an entry whose id is not its name's (a declared name
    /// then got two states) trapped at open on a duplicate dictionary key.
    @Test func aSchemaEntryWhoseIdIsNotItsNamesIsCorruption() throws {
        let directory = TestDirectory()
        var catalog = SchemaCatalog()
        catalog.entries.append(.init(id: tableId(for: "kv") &+ 1, name: "kv", partitionCount: 1, kind: 0))
        let path = directory.file(StoreFileNames.schema)
        try fileSystem.writeAtomically(catalog.encode(), to: path)
        expectCorruption(file: path, offset: 16) {
            _ = try Store.open(at: directory.path, tables: Self.kvOnly)
        }
    }

    /// schema target: the same table twice trapped at open on a duplicate dictionary key.
    @Test func aSchemaNamingATableTwiceIsCorruption() throws {
        let directory = TestDirectory()
        var catalog = SchemaCatalog()
        catalog.entries.append(.init(id: tableId(for: "kv"), name: "kv", partitionCount: 1, kind: 0))
        catalog.entries.append(.init(id: tableId(for: "ghost"), name: "ghost", partitionCount: 2, kind: 0))
        catalog.entries.append(.init(id: tableId(for: "ghost"), name: "ghost", partitionCount: 2, kind: 0))
        let path = directory.file(StoreFileNames.schema)
        try fileSystem.writeAtomically(catalog.encode(), to: path)
        expectCorruption(file: path) {
            _ = try Store.open(at: directory.path, tables: Self.kvOnly)
        }
    }

    /// schema target: every partition costs its memtable's first arena chunk
    /// (1 MiB of address space) and insert hints (32 KiB) from open on, and a
    /// SCHEMA could declare any number of 4,096-partition tables: a 131-byte
    /// file made open allocate 2.4 GB (22 s under the fuzzer). The partitions
    /// of all tables together are bounded; a file past the bound is corruption.
    @Test func aSchemaDeclaringMorePartitionsThanAStoreMayHaveIsCorruption() throws {
        let directory = TestDirectory()
        var catalog = SchemaCatalog()
        for index in 0..<5 {
            catalog.entries.append(.init(id: tableId(for: "t\(index)"), name: "t\(index)", partitionCount: 4096, kind: 0))
        }
        let path = directory.file(StoreFileNames.schema)
        try fileSystem.writeAtomically(catalog.encode(), to: path)
        expectCorruption(file: path, offset: 16 + 4 * (4 + 4 + 1 + 1 + 2)) {
            _ = try SchemaCatalog.decode(try fileSystem.open(path, mode: .read).readAll(), path: path)
        }
    }

    /// The same bound when tables are declared: a store that opens can be opened again.
    @Test func declaringMorePartitionsThanAStoreMayHaveIsRefused() throws {
        let directory = TestDirectory()
        let tables = (0..<5).map { TableSchema(name: "t\($0)", partitionCount: 4096) }
        #expect {
            _ = try Store.open(at: directory.path, tables: tables)
        } throws: { error in
            (error as? StoreError)?.code == .invalidArgument
        }
    }

    // MARK: Queue segments

    /// A queue directory whose one segment holds messages with `sequences`.
    func queueSegment(_ directory: TestDirectory, sequences: [UInt64]) throws -> (path: String, offsets: [Int64]) {
        let queue = directory.queue()
        try fileSystem.createDirectory(queue)
        let path = queue + "/" + StoreFileNames.queueSegment(1)
        var records = [QueueSegmentHeader(segment: 1, firstSequence: 1).encoded()]
        for sequence in sequences {
            records.append(QueueRecord(sequence: sequence, enqueuedAtMicros: 1, attempts: 0, deadLetter: nil, payload: [1, 2, 3]).encoded())
        }
        return (path, try writeLog(path, records))
    }

    /// queue target: a sequence gap wider than `Int.max` trapped when the
    /// recovered acked set was written (`Range.count` of a `Range<UInt64>`).
    @Test func aQueueSequenceBeyond2To63IsCorruption() async throws {
        let directory = TestDirectory()
        let (path, offsets) = try queueSegment(directory, sequences: [1, (1 << 63) + 5])
        expectCorruption(file: path, offset: offsets[2]) {
            _ = try DurableQueue.open(directory: directory.queue())
        }
    }

    /// queue target (same fix): sequence 2^64 - 1 trapped when recovery computed the next sequence.
    @Test func aQueueSequenceOf2To64Minus1IsCorruption() async throws {
        let directory = TestDirectory()
        let (path, offsets) = try queueSegment(directory, sequences: [UInt64.max])
        expectCorruption(file: path, offset: offsets[1]) {
            _ = try DurableQueue.open(directory: directory.queue())
        }
    }

    /// queue-state target (same fix): an acked range wider than `Int.max` in
    /// the consumer state trapped when recovery rewrote the snapshot.
    @Test func anAckedRangeBeyond2To63IsCorruption() async throws {
        let directory = TestDirectory()
        _ = try queueSegment(directory, sequences: [1, 2])
        var snapshot: [UInt8] = [QueueFormat.Kind.consumerSnapshot.rawValue]
        snapshot.append(contentsOf: QueueFormat.consumerMagic)
        snapshot.appendFixed16(QueueFormat.version)
        snapshot.appendVarint(UInt64(1))  // low water
        snapshot.appendVarint(UInt64(1))  // one range
        snapshot.appendVarint(UInt64(2))  // starting at 3
        snapshot.appendVarint(UInt64.max - 10)  // that long
        let path = directory.queue() + "/" + StoreFileNames.queueConsumerState
        try writeLog(path, [snapshot])
        expectCorruption(file: path, offset: 0) {
            _ = try DurableQueue.open(directory: directory.queue())
        }
    }
}
