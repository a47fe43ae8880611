/// Reads one segment file: its header, its message records, and how it ended.
struct QueueSegmentReader {
    /// What a segment holds.
    struct Contents {
        var header: QueueSegmentHeader?
        /// Message records with the offset where each starts.
        var records: [(offset: Int64, record: QueueRecord)] = []
        var summary = LogReader.Summary()
        var fileSize: Int64 = 0
    }

    let path: String
    let fileSystem: any FileSystem

    /// Reads every record, checking every checksum, the header, and that
    /// sequences strictly increase from the header's first sequence. Corruption
    /// before the tail throws ``StoreError/Code/corruption`` with file and offset;
    /// a torn tail is left in `summary.tornTail`. Records whose sequence
    /// `isSkipped` accepts (acked ones) are checked but not kept.
    func read(skipping isSkipped: (UInt64) -> Bool = { _ in false }) throws -> Contents {
        var contents = Contents()
        contents.fileSize = try fileSystem.fileSize(path)
        var previous: UInt64 = 0
        let path = self.path
        contents.summary = try LogReader(path: path, mode: .strict).read(using: fileSystem) { offset, bytes in
            if contents.header == nil {
                let header = try QueueSegmentHeader.decode(bytes, file: path, offset: offset)
                contents.header = header
                previous = header.firstSequence - 1
                return
            }
            let record = try QueueRecord.decode(bytes, file: path, offset: offset)
            guard record.sequence > previous else {
                throw StoreError.corruption("sequence \(record.sequence) does not follow \(previous)", file: path, offset: offset)
            }
            previous = record.sequence
            if !isSkipped(record.sequence) { contents.records.append((offset, record)) }
        }
        return contents
    }

    /// Reads only the header (the first record), from the first block.
    func readHeader() throws -> QueueSegmentHeader? {
        let file = try fileSystem.open(path, mode: .read)
        defer { try? file.close() }
        let prefix = try file.read(count: 256, at: 0)
        var header: QueueSegmentHeader?
        let path = self.path
        struct Stop: Error {}
        do {
            _ = try prefix.withUnsafeBytes { bytes in
                try LogReader(path: path, mode: .pointInTime).read(bytes: bytes) { offset, record in
                    header = try QueueSegmentHeader.decode(record, file: path, offset: offset)
                    throw Stop()
                }
            }
        } catch is Stop {}
        return header
    }
}
