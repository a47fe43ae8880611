/// The store's write-ahead log: numbered segment files `NNNNNN.log` in the
/// data directory, each a sequence of framed records (docs/log-format.md)
/// holding one encoded ``WriteBatch`` each (docs/wal-format.md).
///
/// Appends are done by the commit leader only (one at a time); the log never
/// rewrites a byte. Recovery replays every live segment in number order.
final class WriteAheadLog {
    let directory: String
    let fileSystem: any FileSystem
    let segmentBytes: Int
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
    init(directory: String, fileSystem: any FileSystem, segmentBytes: Int, number: UInt64) throws {
        self.directory = directory
        self.fileSystem = fileSystem
        self.segmentBytes = segmentBytes
        self.currentNumber = number
        let file = try fileSystem.open(joinPath(directory, Self.fileName(number)), mode: .createTruncate)
        try fileSystem.syncDirectory(directory)
        self.writer = LogWriter(file: file)
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

    /// Closes the current segment (synced) and starts segment `number`.
    func roll(to number: UInt64) throws {
        try writer.flush()
        try writer.sync()
        let file = try fileSystem.open(joinPath(directory, Self.fileName(number)), mode: .createTruncate)
        try fileSystem.syncDirectory(directory)
        try writer.file.close()
        writer = LogWriter(file: file)
        currentNumber = number
    }

    /// Closes the current segment after syncing it.
    func close() throws {
        try writer.flush()
        try writer.sync()
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
