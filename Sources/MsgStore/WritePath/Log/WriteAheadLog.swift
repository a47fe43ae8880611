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
    /// A write or sync of the log failed: what the page cache holds can no
    /// longer be trusted, so nothing more is written (not even at close).
    private(set) var failure: StoreError?
    /// Bytes of the current segment known durable (its last successful sync).
    private(set) var syncedLength: Int64 = 0
    /// The synced length the segment's last checkpoint record states.
    private var checkpointedLength: Int64 = 0

    /// Bytes of a checkpoint record's payload.
    static let checkpointRecordBytes = 16

    /// The synced length a checkpoint record states, or nil if `record` is not one.
    static func checkpointedLength(_ record: UnsafeRawBufferPointer) -> Int64? {
        guard record.count == checkpointRecordBytes,
              record.loadUnaligned(fromByteOffset: 0, as: UInt64.self) == 0 else { return nil }
        let length = UInt64(littleEndian: record.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        return length <= UInt64(Int64.max) ? Int64(length) : nil
    }

    /// What ``roll(to:)`` did.
    enum RollOutcome {
        /// The new segment is current.
        case rolled
        /// The new segment could not be created (nothing of it was relied on);
        /// the current segment goes on, and the roll can be tried again.
        case deferred(StoreError)
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
    private static func createSegment(directory: String, number: UInt64, fileSystem: any FileSystem, preallocatedBytes: Int) throws -> any StorageFile {
        let path = joinPath(directory, StoreFileNames.log(number))
        // A segment number is never reused: truncating an existing segment
        // could wipe the only copy of acknowledged writes.
        guard !fileSystem.exists(path) else {
            throw StoreError(.io, "refusing to create log segment \(StoreFileNames.log(number)): it already exists", file: path)
        }
        let file = try fileSystem.open(path, mode: .createTruncate)
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
            try? fileSystem.remove(path)
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

    /// Frames a *synced-length checkpoint* record ahead of a group when a sync
    /// made more of the segment durable since the last one (at most one per
    /// group; 23 bytes framed). Its payload: a zero base
    /// sequence (no batch has one) and the length of the segment's prefix
    /// known durable when the record was framed. Recovery uses the largest
    /// one to tell damage in synced bytes (corruption) from a hole in the
    /// unsynced tail (cut; never acknowledged). See docs/wal-format.md.
    func appendCheckpointIfNeeded() {
        guard syncedLength > checkpointedLength else { return }
        // Framed from the stack: no allocation on the commit path.
        withUnsafeBytes(of: (UInt64(0), UInt64(syncedLength).littleEndian)) { writer.append($0) }
        checkpointedLength = syncedLength
    }

    /// Writes pending records (one `pwrite`), then `fdatasync` if `sync`.
    ///
    /// On failure the group is abandoned: its framed bytes are dropped, the
    /// file is cut back to where the group began (best effort), and the log
    /// is failed — no later call writes to it — so a write reported as failed
    /// never becomes durable through this log afterwards.
    func commit(sync: Bool) throws {
        if let failure { throw failure }
        do {
            try writer.commitOrAbandon(sync: sync, describing: "log write")
        } catch {
            failure = error as? StoreError
            throw error
        }
        if sync { syncedLength = writer.flushedLength }
    }

    /// Syncs the current segment if bytes were written since its last sync.
    /// A failure fails the log.
    func syncIfNeeded() throws {
        if let failure { throw failure }
        guard writer.flushedLength > syncedLength || writer.hasPendingBytes else { return }
        do {
            try writer.flush()
            try writer.sync()
            syncedLength = writer.flushedLength
        } catch {
            let failure = error as? StoreError ?? StoreError(.io, "log sync failed: \(error)")
            self.failure = failure
            writer.discardPending()
            throw failure
        }
    }

    /// Whether the current segment has grown past its size.
    var isFull: Bool { writer.length >= Int64(segmentBytes) }

    /// Starts segment `number`: first closes the current one, cut to its
    /// length and synced (a failure there fails the log and throws), then
    /// creates the new one. When creating fails (EMFILE, ENOSPC) nothing of
    /// the new file was relied on: the outcome is ``RollOutcome/deferred(_:)``
    /// and appends go on in the current segment (no longer preallocated) until
    /// a later roll succeeds. A closed segment is always whole: recovery never
    /// meets a preallocated tail in a segment that is not the newest.
    func roll(to number: UInt64, beforeCreate: () -> Void = {}) throws -> RollOutcome {
        if let failure { throw failure }
        do {
            try trimAndSync()
        } catch {
            let failure = error as? StoreError ?? StoreError(.io, "closing log segment failed: \(error)")
            self.failure = failure
            writer.discardPending()
            throw failure
        }
        beforeCreate()
        let file: any StorageFile
        do {
            file = try WriteAheadLog.createSegment(directory: directory, number: number, fileSystem: fileSystem,
                                                   preallocatedBytes: preallocates ? segmentBytes : 0)
        } catch {
            return .deferred(error as? StoreError ?? StoreError(.io, "creating log segment \(number) failed: \(error)"))
        }
        try? writer.file.close()
        writer = LogWriter(file: file)
        currentNumber = number
        syncedLength = 0
        checkpointedLength = 0
        return .rolled
    }

    /// Closes the current segment after cutting it to its length and syncing
    /// it; a failed log is only closed (nothing more is written to it).
    func close() throws {
        if failure != nil {
            writer.discardPending()
            try writer.file.close()
            return
        }
        try trimAndSync()
        try writer.file.close()
    }

    /// Segment numbers present in `directory`, ascending.
    static func segments(in directory: String, fileSystem: any FileSystem) throws -> [UInt64] {
        try fileSystem.contentsOfDirectory(directory).compactMap(StoreFileNames.logNumber).sorted()
    }

    /// What recovery found.
    struct RecoveryReport: Sendable {
        var segments: [UInt64] = []
        var records = 0
        /// Torn tails cut: (file, offset, reason).
        var tornTails: [(file: String, offset: Int64, reason: String)] = []
    }

    /// Replays segments `numbers` (ascending), delivering each batch record
    /// (checkpoint records are read, not delivered). A torn tail of the last
    /// segment is cut from the file — so is a hole in its unsynced region,
    /// which power loss can leave before later, persisted pages; anywhere
    /// else it is corruption (unless `mode` is point-in-time, which stops the
    /// replay there and removes the segments after it).
    static func replay(
        directory: String, numbers: [UInt64], fileSystem: any FileSystem, mode: LogReader.Mode,
        _ body: (_ record: UnsafeRawBufferPointer, _ file: String, _ offset: Int64) throws -> Void
    ) throws -> RecoveryReport {
        var report = RecoveryReport()
        for (position, number) in numbers.enumerated() {
            let path = joinPath(directory, StoreFileNames.log(number))
            let isLast = position == numbers.count - 1
            let checkpoints: ((UnsafeRawBufferPointer) -> Int64?)? = isLast ? { checkpointedLength($0) } : nil
            let reader = LogReader(path: path, mode: mode, syncedLength: checkpoints)
            let summary = try reader.read(using: fileSystem) { offset, record in
                if checkpointedLength(record) != nil { return }
                try body(record, path, offset)
            }
            report.segments.append(number)
            report.records += summary.records
            if summary.records > 0 {
                // What was replayed may sit only in the page cache (a process
                // killed in sync mode `.none`): make it durable before a flush
                // makes part of it durable in an SSTable.
                let file = try fileSystem.open(path, mode: .read)
                defer { try? file.close() }
                try file.sync()
            }
            guard let torn = summary.tornTail else { continue }
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
                    try fileSystem.remove(joinPath(directory, StoreFileNames.log(later)))
                }
                try fileSystem.syncDirectory(directory)
                break
            }
        }
        return report
    }
}
