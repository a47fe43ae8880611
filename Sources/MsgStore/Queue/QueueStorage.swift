/// The files of one queue: the segments, the active segment's writer and the
/// consumer state. Owned by the queue's worker thread (and by `open` before
/// that thread starts); never touched from the cooperative pool.
///
/// Failures are classified as the engine's: one before any byte of a new file
/// was relied on — creating the next segment, writing a new consumer-state
/// snapshot, deleting a consumed segment — is transient: the current file goes
/// on and the work is tried again later with backoff (``RetryBackoff``). A
/// failed write or sync of records or ack deltas throws: the caller takes the
/// batch back (``abandonUncommitted()``) and the queue becomes read-only.
final class QueueStorage {
    /// A segment on disk.
    struct Segment {
        var number: UInt32
        var firstSequence: UInt64
        var path: String
    }

    /// A message to append; the storage assigns its sequence.
    struct NewRecord: Sendable {
        var enqueuedAtMicros: Int64
        var attempts: UInt32
        var deadLetter: DeadLetterInfo?
        var payload: [UInt8]
    }

    let directory: String
    let fileSystem: any FileSystem
    let options: QueueOptions
    /// Points where tests intervene (disarmed in production; see ``TestHooks``).
    let testHooks: TestHooks
    private(set) var segments: [Segment]
    private var writer: LogWriter
    /// The active segment's length after its last commit (or its creation): a
    /// failed group is cut back to it.
    private var committedLength: Int64
    /// Segments closed by a roll since the last commit, with their lengths before
    /// it: a roll syncs the records of the group framed so far, which a failed
    /// group must take back.
    private var rolledSinceCommit: [(path: String, length: Int64)] = []
    /// Set by ``abandonUncommitted()`` after a failed write or sync: nothing more
    /// is written, not even by ``close()``.
    private(set) var hasFailed = false
    private(set) var nextSequence: UInt64
    private(set) var acked: AckedSequences
    /// Latest delivery number of unacked messages that were delivered (persisted for restarts).
    var deliveries: [UInt64: UInt32] = [:]
    private var consumerWriter: LogWriter
    private var encodeBuffer: [UInt8] = []
    /// Rolls whose new segment could not be created: retried with backoff
    /// while the active segment goes on past `maxSegmentBytes`.
    private var rollRetry = RetryBackoff()
    /// Consumer-state rewrites whose snapshot could not be written: retried with
    /// backoff while ack deltas go on into the current file.
    private var consumerRewriteRetry = RetryBackoff()
    /// The last failure of work being retried with backoff (a roll, a
    /// consumer-state rewrite), or nil when that work succeeds.
    var retriedFailure: StoreError? { rollRetry.lastError ?? consumerRewriteRetry.lastError }
    /// A rewrite renamed its snapshot into place but the directory sync failed:
    /// the next durable ack syncs the directory first.
    private var consumerDirectoryUnsynced = false
    /// `fdatasync`s of committed records and ack deltas (``QueueStats/syncs``).
    private(set) var syncCount: UInt64 = 0

    init(directory: String, fileSystem: any FileSystem, options: QueueOptions, testHooks: TestHooks, segments: [Segment],
         writer: LogWriter, nextSequence: UInt64, acked: AckedSequences, consumerWriter: LogWriter) {
        self.directory = directory
        self.fileSystem = fileSystem
        self.options = options
        self.testHooks = testHooks
        self.segments = segments
        self.writer = writer
        self.committedLength = writer.length
        self.nextSequence = nextSequence
        self.acked = acked
        self.consumerWriter = consumerWriter
    }

    var consumerPath: String { joinPath(directory, StoreFileNames.queueConsumerState) }

    // MARK: Appending

    /// Whether appending about `bytes` more (records or consumer-state
    /// deltas) could start file work that syncs — a segment roll, a
    /// consumer-state rewrite — which a caller processing in place must not
    /// do on its thread (``QueueWorker/processInPlace(_:queue:)``). Errs on
    /// the side of yes (an eighth of the limit, at most 64 KiB, of slack).
    func mayStartFileWork(appending bytes: Int) -> Bool {
        let segmentSlack = min(64 << 10, options.maxSegmentBytes / 8)
        let stateSlack = min(64 << 10, options.maxConsumerStateBytes / 8)
        return writer.length + Int64(bytes + segmentSlack) >= Int64(options.maxSegmentBytes)
            || consumerWriter.length + Int64(stateSlack) > Int64(options.maxConsumerStateBytes)
    }

    /// Frames records into the active segment (rolling to a new segment when
    /// it is full) and returns their sequences and locations. Call ``commit()`` to write them.
    func append(_ records: [NewRecord]) throws -> [(sequence: UInt64, location: QueueRecordLocation)] {
        var sequences: [(sequence: UInt64, location: QueueRecordLocation)] = []
        sequences.reserveCapacity(records.count)
        for new in records {
            if writer.length >= Int64(options.maxSegmentBytes) && CommitClock.monotonicMicroseconds() >= rollRetry.notBefore {
                try roll()
            }
            let location = QueueRecordLocation(segment: segments.last!.number, offset: writer.length)
            let record = QueueRecord(sequence: nextSequence, enqueuedAtMicros: new.enqueuedAtMicros,
                                     attempts: new.attempts, deadLetter: new.deadLetter, payload: new.payload)
            encodeBuffer.removeAll(keepingCapacity: true)
            record.encode(into: &encodeBuffer)
            writer.append(encodeBuffer)
            sequences.append((nextSequence, location))
            nextSequence += 1
        }
        return sequences
    }

    /// Writes pending records with one `pwrite` and, in sync mode, one `fdatasync`.
    /// On failure call ``abandonUncommitted()``.
    func commit() throws {
        try writer.flush()
        testHooks.run(.queueEnqueueBeforeSync)
        if options.sync == .always {
            try writer.sync()
            syncCount += 1
        }
        committedLength = writer.length
        rolledSinceCommit.removeAll()
    }

    /// After a failed append, commit, ack or delivery record: drops every framed
    /// byte not yet written and cuts the records of the failed group (already
    /// written, or synced by a roll) back off their segments, so that an
    /// enqueue reported failed never becomes durable. Best effort (the files
    /// may be failing); marks the storage failed: ``close()`` writes nothing.
    func abandonUncommitted() {
        hasFailed = true
        writer = LogWriter(file: writer.file, length: committedLength)
        if let size = try? writer.file.size(), size > committedLength {
            try? writer.file.truncate(to: committedLength)
            try? writer.file.sync()
        }
        for (path, length) in rolledSinceCommit.reversed() {
            guard let file = try? fileSystem.open(path, mode: .readWrite) else { continue }
            try? file.truncate(to: length)
            try? file.sync()
            try? file.close()
        }
        rolledSinceCommit.removeAll()
        consumerWriter = LogWriter(file: consumerWriter.file, length: consumerWriter.flushedLength)
    }

    /// Closes the full active segment (durably) and starts the next one. The
    /// new segment exists before the old one is closed: on failure the old
    /// writer stays open and current (no handle is left closed but in use).
    ///
    /// A failed write or sync of the active segment throws (its records are
    /// the batch's). A failure creating the next segment (EMFILE, ENOSPC) is
    /// transient: nothing of the new file was relied on, so appends go on in
    /// the active segment and the roll is tried again after a backoff. A new
    /// file left behind (its removal failed too) is recognised on open: its
    /// first sequence is already in the segment before it.
    private func roll() throws {
        try writer.flush()
        // A preallocated segment is cut back to its records before it is closed.
        if options.preallocatedSegmentBytes > 0, try writer.file.size() > writer.length {
            try writer.file.truncate(to: writer.length)
        }
        try writer.sync()
        let previous = segments.last!
        let number = previous.number + 1
        let segment = Segment(number: number, firstSequence: nextSequence,
                              path: joinPath(directory, StoreFileNames.queueSegment(number)))
        testHooks.run(.queueRollBeforeCreate)
        let next: LogWriter
        do {
            next = try Self.createSegment(segment, fileSystem: fileSystem, directory: directory,
                                          preallocatedBytes: options.preallocatedSegmentBytes)
        } catch {
            rollRetry.failed(error as? StoreError ?? StoreError(.io, "creating queue segment \(number) failed: \(error)",
                                                                file: segment.path))
            return
        }
        rollRetry.succeeded()
        let old = writer
        if old.length > committedLength { rolledSinceCommit.append((previous.path, committedLength)) }
        writer = next
        committedLength = next.length
        segments.append(segment)
        // Its records are synced: an error closing it loses nothing.
        try? old.file.close()
    }

    /// Creates a segment file holding its header, durably (file and directory
    /// entry). On failure the new file is closed and removed again (best effort).
    static func createSegment(_ segment: Segment, fileSystem: any FileSystem, directory: String,
                              preallocatedBytes: Int = 0) throws -> LogWriter {
        let file = try fileSystem.open(segment.path, mode: .createTruncate)
        do {
            let writer = LogWriter(file: file)
            writer.append(QueueSegmentHeader(segment: segment.number, firstSequence: segment.firstSequence).encoded())
            try writer.flush()
            try zeroFill(file, from: writer.length, to: Int64(preallocatedBytes))
            try writer.sync()
            try fileSystem.syncDirectory(directory)
            return writer
        } catch {
            try? file.close()
            try? fileSystem.remove(segment.path)
            throw error
        }
    }

    /// Writes zeros from `start` up to `end` (nothing if `end <= start`): a
    /// preallocated tail, which a reader takes for the end of the data.
    static func zeroFill(_ file: any StorageFile, from start: Int64, to end: Int64) throws {
        guard end > start else { return }
        let chunk = [UInt8](repeating: 0, count: 1 << 20)
        var offset = start
        while offset < end {
            let count = Int(min(Int64(chunk.count), end - offset))
            try file.write(count == chunk.count ? chunk : Array(chunk.prefix(count)), at: offset)
            offset += Int64(count)
        }
    }

    /// Reads payloads back from their segments (messages over the memory budget).
    func readPayloads(_ locations: [QueueRecordLocation]) throws -> [[UInt8]] {
        try locations.map { location in
            let path = joinPath(directory, StoreFileNames.queueSegment(location.segment))
            let file = try fileSystem.open(path, mode: .read)
            defer { try? file.close() }
            return try QueueRecordLocation.readRecord(from: file, at: location.offset).payload
        }
    }

    // MARK: Acks

    /// Records acks durably (one delta record, one `fdatasync` in sync mode),
    /// then deletes segments that hold only acked records and compacts the
    /// consumer state when it has grown. Throws only when the delta's write or
    /// sync failed (what the ack depends on); the clean-up after it never throws.
    /// With `sync` false the delta is written without `fdatasync` (it survives a
    /// process crash; a power loss may take it back: the messages are then
    /// delivered again).
    func recordAcks(_ sequences: [UInt64], sync: Bool = true) throws {
        guard !sequences.isEmpty else { return }
        var batch = AckedSequences(lowWater: 0)
        for sequence in sequences { batch.insert(sequence) }
        var ranges = batch.ranges
        if batch.lowWater > 0 { ranges.insert(0..<batch.lowWater, at: 0) }
        consumerWriter.append(AckedSequences.encodedDelta(ranges))
        try consumerWriter.flush()
        testHooks.run(.queueAckBeforeSync)
        if options.sync == .always && sync {
            try consumerWriter.sync()
            syncCount += 1
            if consumerDirectoryUnsynced {
                // The delta is in a snapshot file whose rename is not known durable yet.
                try fileSystem.syncDirectory(directory)
                consumerDirectoryUnsynced = false
            }
        }
        for range in ranges { acked.insert(range) }
        for sequence in sequences { deliveries[sequence] = nil }
        deleteConsumedSegments()
        rewriteConsumerStateIfDue()
    }

    /// Deletes every non-active segment whose sequences are all acked (not only
    /// the oldest: one message still in flight must not pin the segments after it).
    /// A segment's sequences run up to the next segment's first sequence.
    ///
    /// Best effort: a segment that cannot be removed stays listed and is tried
    /// again after the next ack; a failed directory sync only lets a removed
    /// segment come back after a power loss (open deletes it again).
    func deleteConsumedSegments() {
        var kept: [Segment] = []
        var removed = false
        for (index, segment) in segments.enumerated() {
            let isActive = index == segments.count - 1
            let next = isActive ? nextSequence : segments[index + 1].firstSequence
            if !isActive && (next <= segment.firstSequence || acked.contains(segment.firstSequence...(next - 1))) {
                do {
                    try fileSystem.remove(segment.path)
                    removed = true
                } catch {
                    if fileSystem.exists(segment.path) {
                        kept.append(segment)
                    } else {
                        removed = true
                    }
                }
            } else {
                kept.append(segment)
            }
        }
        segments = kept
        if removed { try? fileSystem.syncDirectory(directory) }
    }

    /// Records deliveries (receives) in the consumer state, written but not
    /// synced: they only raise attempt counts, and a process crash keeps them.
    func recordDeliveries(_ delivered: [(sequence: UInt64, attempt: UInt32)]) throws {
        guard !delivered.isEmpty else { return }
        var fresh: [(sequence: UInt64, attempt: UInt32)] = []
        for item in delivered where !acked.contains(item.sequence) {
            deliveries[item.sequence] = max(deliveries[item.sequence] ?? 0, item.attempt)
            fresh.append(item)
        }
        guard !fresh.isEmpty else { return }
        consumerWriter.append(ConsumerState.encodedDeliveries(fresh))
        try consumerWriter.flush()
        rewriteConsumerStateIfDue()
    }

    /// Rewrites the consumer state once it passed `maxConsumerStateBytes`,
    /// unless an earlier attempt failed less than a backoff ago.
    private func rewriteConsumerStateIfDue() {
        guard consumerWriter.length > Int64(options.maxConsumerStateBytes),
              CommitClock.monotonicMicroseconds() >= consumerRewriteRetry.notBefore else { return }
        do {
            try rewriteConsumerState()
            consumerRewriteRetry.succeeded()
        } catch {
            consumerRewriteRetry.failed(error as? StoreError ?? StoreError(.io, "rewriting the consumer state failed: \(error)",
                                                                           file: consumerPath))
        }
    }

    /// Replaces the consumer state file with one snapshot record (temp file,
    /// sync, rename, directory sync) and appends to the new file from then on.
    /// The old file is closed only once the new one is in place.
    ///
    /// Throws only when nothing changed (the temp file could not be written or
    /// renamed): the old writer stays open and current, and its file keeps
    /// every ack. Once renamed, the snapshot is current even if the directory
    /// sync fails: the next durable ack syncs the directory first.
    func rewriteConsumerState() throws {
        let next = try Self.writeConsumerSnapshot(acked, deliveries: deliveries, path: consumerPath, fileSystem: fileSystem,
                                                  testHooks: testHooks)
        let old = consumerWriter
        consumerWriter = next
        // Replaced by the snapshot: an error closing it loses nothing.
        try? old.file.close()
        do {
            try fileSystem.syncDirectory(directory)
        } catch {
            consumerDirectoryUnsynced = true
        }
    }

    /// Writes a consumer state file holding one snapshot atomically (temp file,
    /// `fdatasync`, rename) and returns a writer appending to it. The caller
    /// syncs the directory. On failure nothing changed: the temp file is
    /// closed and removed (best effort).
    static func writeConsumerSnapshot(_ acked: AckedSequences, deliveries: [UInt64: UInt32], path: String,
                                      fileSystem: any FileSystem, testHooks: TestHooks) throws -> LogWriter {
        let temporary = StoreFileNames.temporary(for: path)
        let file = try fileSystem.open(temporary, mode: .createTruncate)
        do {
            let writer = LogWriter(file: file)
            writer.append(acked.encodedSnapshot())
            if !deliveries.isEmpty {
                writer.append(ConsumerState.encodedDeliveries(deliveries.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
            }
            try writer.flush()
            try writer.sync()
            testHooks.run(.queueConsumerStateBeforeRename)
            try fileSystem.rename(temporary, to: path)
            return writer
        } catch {
            try? file.close()
            try? fileSystem.remove(temporary)
            throw error
        }
    }

    /// Closes the files. After a failure (``hasFailed``) nothing is written:
    /// the bytes of a failed group must never reach the disk. Closes both
    /// files even if one fails, then throws the first error.
    func close() throws {
        var firstError: (any Error)?
        if !hasFailed {
            // Normally nothing is pending here: every group writes what it framed.
            do { try writer.flush() } catch { firstError = error }
            do { try consumerWriter.flush() } catch { firstError = firstError ?? error }
            if firstError == nil, options.preallocatedSegmentBytes > 0 {
                // Cut the preallocated zeros off the active segment (best effort: a zero tail is read as the end anyway).
                if let size = try? writer.file.size(), size > writer.length {
                    try? writer.file.truncate(to: writer.length)
                    try? writer.file.sync()
                }
            }
        }
        do { try writer.file.close() } catch { firstError = firstError ?? error }
        do { try consumerWriter.file.close() } catch { firstError = firstError ?? error }
        if let firstError { throw firstError }
    }
}
