/// A read-only look at a queue directory or one segment file, for
/// `msgstore inspect`: segments with sizes and sequence ranges, the consumer
/// state, the depth, and (on request) every unacked record.
///
/// Takes no lock and writes nothing, so it is safe next to a running queue
/// (a segment being appended to may show a torn tail: the write in flight).
public struct QueueInspection: Sendable {
    /// One segment file.
    public struct Segment: Sendable, Equatable {
        /// The segment's path.
        public var path: String
        /// Its number (from the header).
        public var number: UInt32
        /// The first sequence it may hold (from the header).
        public var firstSequence: UInt64
        /// Its size in bytes.
        public var sizeBytes: Int64
        /// Message records in it.
        public var records: Int
        /// Sequences of its first and last message records, if any.
        public var sequenceRange: ClosedRange<UInt64>?
        /// Where a torn tail starts, if the file ends in one.
        public var tornTailOffset: Int64?
    }

    /// One record (with `entries: true`).
    public struct Entry: Sendable, Equatable {
        /// The record's sequence.
        public var sequence: UInt64
        /// The segment holding it.
        public var file: String
        /// The offset of its first fragment.
        public var offset: Int64
        /// Enqueue time, µs since the Unix epoch.
        public var enqueuedAtMicros: Int64
        /// Deliveries recorded in the record (before a dead-letter move).
        public var attempts: UInt32
        /// Set for records of a dead-letter queue.
        public var deadLetter: DeadLetterInfo?
        /// Whether the consumer state says it was acked.
        public var isAcked: Bool
        /// The payload.
        public var payload: [UInt8]
    }

    /// The path inspected.
    public var path: String
    /// The on-disk format version this build reads.
    public var formatVersion: UInt16 = QueueFormat.version
    /// Segments, oldest first.
    public var segments: [Segment] = []
    /// Every sequence below it is acked (1 when no consumer state was read).
    public var ackedLowWater: UInt64 = 1
    /// Acked ranges above ``ackedLowWater``.
    public var ackedRanges: [Range<UInt64>] = []
    /// Message records not acked.
    public var depth = 0
    /// Sequences of the unacked records, oldest and newest.
    public var unackedRange: ClosedRange<UInt64>?
    /// Records, when asked for with `entries: true`.
    public var entries: [Entry] = []

    /// Total bytes of the segments.
    public var segmentBytes: Int64 { segments.reduce(0) { $0 + $1.sizeBytes } }

    /// Inspects a queue directory (segments + `CONSUMER.qstate`) or one
    /// segment file (`*.qlog`; every record counts as unacked). Throws
    /// ``StoreError/Code/corruption`` with file and offset on a bad record
    /// before a file's tail.
    public static func inspect(path: String, fileSystem: any FileSystem = PosixFileSystem(),
                               entries includeEntries: Bool = false) throws -> QueueInspection {
        var inspection = QueueInspection(path: path)
        var acked = AckedSequences()
        var segmentPaths: [String] = []
        if path.hasSuffix(StoreFileNames.queueSegmentSuffix) {
            segmentPaths = [path]
        } else {
            let consumerPath = joinPath(path, StoreFileNames.queueConsumerState)
            if fileSystem.exists(consumerPath) {
                acked = try ConsumerState.read(path: consumerPath, fileSystem: fileSystem).state.acked ?? acked
            }
            segmentPaths = try queueSegmentPaths(inDirectory: path, fileSystem: fileSystem)
        }
        inspection.ackedLowWater = acked.lowWater
        inspection.ackedRanges = acked.ranges
        for segmentPath in segmentPaths {
            let contents = try QueueSegmentReader(path: segmentPath, fileSystem: fileSystem).read()
            let records = contents.records
            inspection.segments.append(Segment(
                path: segmentPath, number: contents.header?.segment ?? 0,
                firstSequence: contents.header?.firstSequence ?? 0, sizeBytes: contents.fileSize,
                records: records.count,
                sequenceRange: records.isEmpty ? nil : records.first!.record.sequence...records.last!.record.sequence,
                tornTailOffset: contents.summary.tornTail?.offset))
            for (offset, record) in records {
                let isAcked = acked.contains(record.sequence)
                if !isAcked {
                    inspection.depth += 1
                    let low = inspection.unackedRange?.lowerBound ?? record.sequence
                    inspection.unackedRange = min(low, record.sequence)...record.sequence
                }
                if includeEntries {
                    inspection.entries.append(Entry(sequence: record.sequence, file: segmentPath, offset: offset,
                                                    enqueuedAtMicros: record.enqueuedAtMicros, attempts: record.attempts,
                                                    deadLetter: record.deadLetter, isAcked: isAcked, payload: record.payload))
                }
            }
        }
        return inspection
    }
}

/// The verdict of verifying a queue directory or file (`msgstore verify`): every checksum and invariant of a queue.
public struct QueueVerification: Sendable {
    /// One thing wrong, located.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// The file concerned.
        public var file: String
        /// The byte offset of the bad bytes, if known.
        public var offset: Int64?
        /// What is wrong.
        public var message: String
        /// `file@offset: message`.
        public var description: String { "\(file)" + (offset.map { "@\($0)" } ?? "") + ": \(message)" }
    }

    /// Files read.
    public var filesChecked = 0
    /// Records whose checksums were checked.
    public var recordsChecked = 0
    /// Everything wrong found; empty when the queue is sound.
    public var problems: [Problem] = []
    /// Whether no problem was found.
    public var isOK: Bool { problems.isEmpty }
}

/// The segment files of a queue directory, oldest first.
func queueSegmentPaths(inDirectory path: String, fileSystem: any FileSystem) throws -> [String] {
    try fileSystem.contentsOfDirectory(path).compactMap(StoreFileNames.queueSegmentNumber).sorted()
        .map { joinPath(path, StoreFileNames.queueSegment($0)) }
}

/// Checks every checksum, header and sequence of a queue directory (or one
/// segment file) and reports each problem with file and offset. Read-only.
/// A torn tail counts as a problem (the next open cuts it).
func verifyQueue(path: String, fileSystem: any FileSystem = PosixFileSystem()) -> QueueVerification {
    var verification = QueueVerification()
    func record(_ error: any Error, file: String) {
        if let error = error as? StoreError {
            verification.problems.append(.init(file: error.file ?? file, offset: error.offset, message: error.message))
        } else {
            verification.problems.append(.init(file: file, offset: nil, message: "\(error)"))
        }
    }
    var segmentPaths: [String] = []
    if path.hasSuffix(StoreFileNames.queueSegmentSuffix) {
        segmentPaths = [path]
    } else {
        let consumerPath = joinPath(path, StoreFileNames.queueConsumerState)
        if fileSystem.exists(consumerPath) {
            verification.filesChecked += 1
            do {
                let summary = try ConsumerState.read(path: consumerPath, fileSystem: fileSystem).summary
                verification.recordsChecked += summary.records
                if let torn = summary.tornTail {
                    verification.problems.append(.init(file: consumerPath, offset: torn.offset, message: "torn tail: \(torn.reason)"))
                }
            } catch { record(error, file: consumerPath) }
        }
        do {
            segmentPaths = try queueSegmentPaths(inDirectory: path, fileSystem: fileSystem)
        } catch { record(error, file: path) }
    }
    var previousLast: UInt64 = 0
    for segmentPath in segmentPaths {
        verification.filesChecked += 1
        do {
            let contents = try QueueSegmentReader(path: segmentPath, fileSystem: fileSystem).read()
            verification.recordsChecked += contents.summary.records
            if contents.header == nil {
                verification.problems.append(.init(file: segmentPath, offset: 0, message: "no segment header"))
            }
            if let first = contents.records.first, first.record.sequence <= previousLast {
                verification.problems.append(.init(file: segmentPath, offset: first.offset,
                                                   message: "sequence \(first.record.sequence) not after previous segment's \(previousLast)"))
            }
            previousLast = contents.records.last?.record.sequence ?? previousLast
            if let torn = contents.summary.tornTail, torn.reason != QueueFormat.zeroFilledTailReason {
                // (A zero-filled tail is a preallocated segment's unused end.)
                verification.problems.append(.init(file: segmentPath, offset: torn.offset, message: "torn tail: \(torn.reason)"))
            }
        } catch { record(error, file: segmentPath) }
    }
    return verification
}
