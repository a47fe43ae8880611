/// The store's write-ahead log: numbered segment files `NNNNNN.log` in the
/// data directory, each a sequence of framed records (docs/log-format.md)
/// holding one encoded ``WriteBatch`` each (docs/wal-format.md).
///
/// Appends are done by the commit leader only (one at a time); the log never
/// rewrites a byte it wrote. Recovery replays every live segment in number order.
///
/// **Preallocation** (for sync mode `always`): a new segment is first filled
/// with zeros to its full size and synced, so that each commit's
/// `fdatasync` overwrites allocated blocks and has no file-size or extent
/// metadata to flush (about half the latency of an appending `fdatasync` on
/// ext4; RocksDB recycles log files for the same reason). A closed segment is
/// cut back to its written length; the zeros past the last record of the live
/// one read as an incomplete tail, which recovery cuts (docs/wal-format.md).
final class WriteAheadLog {
    let directory: String
    let fileSystem: any FileSystem
    let segmentBytes: Int
    let preallocates: Bool
    private(set) var writer: LogWriter
    /// Number of the segment being appended to.
    private(set) var currentNumber: UInt64

    /// File name of segment `number`.
    static func fileName(_ number: UInt64) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".log"
    }

    /// The segment number of a file name like `000012.log`, if it is one.
    static func segmentNumber(_ name: String) -> UInt64? {
        guard name.hasSuffix(".log") else { return nil }
        return UInt64(name.dropLast(4))
    }

    /// Creates (and makes durable) a new, empty segment `number` to append to.
    init(directory: String, fileSystem: any FileSystem, segmentBytes: Int, number: UInt64, preallocates: Bool = false) throws {
        self.directory = directory
        self.fileSystem = fileSystem
        self.segmentBytes = segmentBytes
        self.preallocates = preallocates
        self.currentNumber = number
        self.writer = LogWriter(file: try WriteAheadLog.createSegment(
            directory: directory, number: number, fileSystem: fileSystem, preallocatedBytes: preallocates ? segmentBytes : 0))
    }

    /// Creates segment `number`, zero-filled to `preallocatedBytes` (plus room
    /// for one maximal group), synced, and its directory entry synced.
    private static func createSegment(directory: String, number: UInt64, fileSystem: any FileSystem, preallocatedBytes: Int) throws -> any FileHandle {
        let file = try fileSystem.open(joinPath(directory, fileName(number)), mode: .createTruncate)
        do {
            if preallocatedBytes > 0 {
                let chunk = [UInt8](repeating: 0, count: 1 << 20)
                var offset = 0
                while offset < preallocatedBytes {
                    try file.write(chunk, at: Int64(offset))
                    offset += chunk.count
                }
                try file.sync()
            }
            try fileSystem.syncDirectory(directory)
        } catch {
            try? file.close()
            throw error
        }
        return file
    }

    /// Cuts the segment back to what was written (dropping preallocated zeros) and syncs it.
    private func trimAndSync() throws {
        try writer.flush()
        if preallocates { try writer.file.truncate(to: writer.flushedLength) }
        try writer.sync()
    }

    /// Frames a record into the pending buffer.
    func append(_ record: UnsafeRawBufferPointer) { writer.append(record) }

    /// Writes pending records (one `pwrite`), then `fdatasync` if `sync`.
    func commit(sync: Bool) throws {
        try writer.flush()
        if sync { try writer.sync() }
    }

    /// Whether the current segment has grown past its size.
    var isFull: Bool { writer.length >= Int64(segmentBytes) }

    /// Closes the current segment (synced, cut to its length) and starts segment `number`.
    func roll(to number: UInt64) throws {
        try trimAndSync()
        let file = try WriteAheadLog.createSegment(directory: directory, number: number, fileSystem: fileSystem,
                                                   preallocatedBytes: preallocates ? segmentBytes : 0)
        try writer.file.close()
        writer = LogWriter(file: file)
        currentNumber = number
    }

    /// Closes the current segment after cutting it to its length and syncing it.
    func close() throws {
        try trimAndSync()
        try writer.file.close()
    }

    /// Segment numbers present in `directory`, ascending.
    static func segments(in directory: String, fileSystem: any FileSystem) throws -> [UInt64] {
        try fileSystem.contentsOfDirectory(directory).compactMap(segmentNumber).sorted()
    }

    /// What recovery found.
    struct RecoveryReport {
        var segments: [UInt64] = []
        var records = 0
        /// Torn tails cut: (file, offset, reason).
        var tornTails: [(file: String, offset: Int64, reason: String)] = []
    }

    /// Replays segments `numbers` (ascending), delivering each record. A torn
    /// tail of the last segment is cut from the file; anywhere else it is
    /// corruption (unless `mode` is point-in-time, which stops the replay there
    /// and removes the segments after it).
    static func replay(
        directory: String, numbers: [UInt64], fileSystem: any FileSystem, mode: LogReader.Mode,
        _ body: (_ record: UnsafeRawBufferPointer, _ file: String, _ offset: Int64) throws -> Void
    ) throws -> RecoveryReport {
        var report = RecoveryReport()
        for (position, number) in numbers.enumerated() {
            let path = joinPath(directory, fileName(number))
            let reader = LogReader(path: path, mode: mode)
            let summary = try reader.read(using: fileSystem) { offset, record in
                try body(record, path, offset)
            }
            report.segments.append(number)
            report.records += summary.records
            guard let torn = summary.tornTail else { continue }
            let isLast = position == numbers.count - 1
            if !isLast && mode == .strict {
                throw StoreError.corruption(
                    "\(torn.reason) in a log segment that is not the last one: acknowledged writes after it would be lost",
                    file: path, offset: torn.offset)
            }
            let file = try fileSystem.open(path, mode: .readWrite)
            try file.truncate(to: torn.offset)
            try file.sync()
            try file.close()
            report.tornTails.append((path, torn.offset, torn.reason))
            if !isLast {
                for later in numbers[(position + 1)...] {
                    try fileSystem.remove(joinPath(directory, fileName(later)))
                }
                try fileSystem.syncDirectory(directory)
                break
            }
        }
        return report
    }
}
