import Testing
@testable import MsgStore

/// Record framing edge cases (LevelDB's log_test.cc names).
@Suite struct LogFormatTests {
    final class MemoryFile: StorageFile, @unchecked Sendable {
        var data: [UInt8] = []
        let path = "memory.log"
        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
            let end = Int(offset) + bytes.count
            if data.count < end { data.append(contentsOf: repeatElement(0, count: end - data.count)) }
            data.replaceSubrange(Int(offset)..<end, with: bytes)
        }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int { 0 }
        func sync() throws {}
        func size() throws -> Int64 { Int64(data.count) }
        func truncate(to size: Int64) throws { data.removeSubrange(Int(size)...) }
        func close() throws {}
    }

    func write(_ records: [[UInt8]]) throws -> [UInt8] {
        let file = MemoryFile()
        let writer = LogWriter(file: file)
        for record in records { writer.append(record) }
        try writer.flush()
        return file.data
    }

    func read(_ data: [UInt8], mode: LogReader.Mode = .strict) throws -> ([[UInt8]], LogReader.Summary) {
        var records: [[UInt8]] = []
        let summary = try data.withUnsafeBytes { raw in
            try LogReader(path: "memory.log", mode: mode).read(bytes: raw) { _, record in records.append(Array(record)) }
        }
        return (records, summary)
    }

    func pattern(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) }
    }

    @Test func emptyRecord() throws {
        let data = try write([[]])
        #expect(data.count == LogFormat.headerSize)
        let (records, summary) = try read(data)
        #expect(records == [[]])
        #expect(summary.tornTail == nil)
    }

    @Test func manySmallRecords() throws {
        let input = (0..<1000).map { pattern($0 % 300, seed: UInt8($0 % 256)) }
        let (records, summary) = try read(try write(input))
        #expect(records == input)
        #expect(summary.records == 1000)
    }

    @Test func recordSpanningBlockEnd() throws {
        let big = pattern(3 * LogFormat.blockSize + 123)
        let input = [pattern(100), big, pattern(10)]
        let data = try write(input)
        let (records, _) = try read(data)
        #expect(records == input)
    }

    @Test func marginalTrailerIsSkipped() throws {
        // Leave exactly 6 bytes (< header size) at the end of the first block.
        let first = pattern(LogFormat.blockSize - LogFormat.headerSize - 6)
        let input = [first, pattern(50)]
        let data = try write(input)
        #expect(data.count == LogFormat.blockSize + LogFormat.headerSize + 50)
        let (records, _) = try read(data)
        #expect(records == input)
    }

    @Test func exactlyFullBlock() throws {
        let input = [pattern(LogFormat.blockSize - LogFormat.headerSize), pattern(1)]
        let (records, _) = try read(try write(input))
        #expect(records == input)
    }

    @Test func checksumMismatchInTheMiddleIsCorruption() throws {
        var data = try write([pattern(100), pattern(100), pattern(100)])
        data[LogFormat.headerSize + 100 + LogFormat.headerSize + 5] ^= 0x40  // a payload byte of record 2
        #expect {
            _ = try read(data)
        } throws: { error in
            let error = error as! StoreError
            return error.code == .corruption && error.offset == Int64(LogFormat.headerSize + 100) && error.file == "memory.log"
        }
    }

    @Test func badLengthInTheMiddleIsCorruption() throws {
        // Record 1 in block 0, record 2 in block 1; damage record 1's length.
        let input = [pattern(100), pattern(LogFormat.blockSize), pattern(40)]
        var data = try write(input)
        data[4] = 0xFF
        data[5] = 0xFF
        #expect(throws: StoreError.self) { _ = try read(data) }
    }

    @Test func pointInTimeModeStopsAtTheDamage() throws {
        var data = try write([pattern(100), pattern(100), pattern(100)])
        data[LogFormat.headerSize + 100 + LogFormat.headerSize + 5] ^= 0x40
        let (records, summary) = try read(data, mode: .pointInTime)
        #expect(records == [pattern(100)])
        #expect(summary.tornTail?.offset == Int64(LogFormat.headerSize + 100))
    }

    @Test func checksumMismatchInTheLastRecordIsATornTail() throws {
        var data = try write([pattern(100), pattern(100)])
        data[data.count - 1] ^= 1
        let (records, summary) = try read(data)
        #expect(records == [pattern(100)])
        #expect(summary.tornTail?.offset == Int64(LogFormat.headerSize + 100))
        #expect(summary.validLength == Int64(LogFormat.headerSize + 100))
    }

    @Test func tornTailAtEveryByteOfTheLastRecord() throws {
        let input = [pattern(60), pattern(2 * LogFormat.blockSize + 17)]
        let data = try write(input)
        let firstEnd = LogFormat.headerSize + 60
        for cut in stride(from: firstEnd, to: data.count, by: 1) where cut == firstEnd || cut % 97 == 0 || cut > data.count - 20 {
            let (records, summary) = try read(Array(data[..<cut]))
            #expect(records == [pattern(60)], "cut at \(cut)")
            #expect(summary.validLength == Int64(firstEnd), "cut at \(cut)")
            if cut > firstEnd { #expect(summary.tornTail?.offset == Int64(firstEnd), "cut at \(cut)") }
        }
    }

    @Test func zeroFilledTailIsATornTail() throws {
        let data = try write([pattern(10)]) + [UInt8](repeating: 0, count: 5000)
        let (records, summary) = try read(data)
        #expect(records == [pattern(10)])
        #expect(summary.tornTail?.offset == Int64(LogFormat.headerSize + 10))
    }

    @Test func garbageAfterLastRecordIsATornTail() throws {
        var generator = SeededGenerator(seed: 7)
        let garbage = (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let (records, summary) = try read(try write([pattern(10)]) + garbage)
        #expect(records == [pattern(10)])
        #expect(summary.tornTail != nil)
    }

    @Test func middleFragmentWithoutFirstIsReported() throws {
        let data = try write([pattern(LogFormat.blockSize * 2)])
        // Start reading at the second block: it begins with a middle fragment,
        // and a valid last fragment follows: corruption, not a torn tail.
        let tail = Array(data[LogFormat.blockSize...])
        #expect { _ = try read(tail) } throws: { ($0 as! StoreError).offset == 0 }
        let (records, summary) = try read(tail, mode: .pointInTime)
        #expect(records.isEmpty)
        #expect(summary.tornTail?.offset == 0)
    }
}
