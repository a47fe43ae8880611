/// What opening a queue found and repaired.
public struct QueueRecoveryReport: Sendable, Equatable {
    /// A torn tail (a record cut by a crash) that was cut off a file.
    public struct TornTail: Sendable, Equatable {
        /// The file that was cut.
        public var file: String
        /// The offset where the file now ends.
        public var offset: Int64
        /// Why the bytes after it were not a record.
        public var reason: String
    }

    /// Torn tails cut from segments or the consumer state.
    public var tornTails: [TornTail] = []
    /// Unacked messages found.
    public var unackedMessages = 0
    /// Fully acked segment files deleted while opening.
    public var deletedSegments = 0
}

/// An unacked message found on open.
struct RecoveredMessage {
    /// The record; its payload is empty when not loaded.
    var record: QueueRecord
    var location: QueueRecordLocation
    /// Whether `record.payload` holds the payload (false past the memory budget).
    var isPayloadLoaded: Bool
}

extension QueueStorage {
    /// Opens the queue's files: reads the consumer state, reads the segments
    /// that still hold unacked records (fully acked ones are deleted unread
    /// when the next segment's first sequence proves it), cuts a torn tail,
    /// and rewrites the consumer state as one compact snapshot.
    ///
    /// Corruption before a file's tail throws ``StoreError/Code/corruption``
    /// naming the file and offset.
    static func recover(directory: String, fileSystem: any FileSystem, options: QueueOptions, testHooks: TestHooks)
        throws -> (storage: QueueStorage, unacked: [RecoveredMessage], report: QueueRecoveryReport) {
        var report = QueueRecoveryReport()
        let consumerPath = joinPath(directory, StoreFileNames.queueConsumerState)

        // 1. Consumer state.
        var consumer = ConsumerState()
        if fileSystem.exists(consumerPath) {
            let (state, summary) = try ConsumerState.read(path: consumerPath, fileSystem: fileSystem)
            consumer = state
            if let torn = summary.tornTail {
                // Only acks whose delta never became durable are lost: their messages come back.
                report.tornTails.append(.init(file: consumerPath, offset: torn.offset, reason: torn.reason))
            }
        }
        let storedAcked = consumer.acked ?? AckedSequences()

        // 2. Segments, oldest first.
        var segments: [Segment] = []
        var numbers: [UInt32] = []
        for name in try fileSystem.contentsOfDirectory(directory) {
            if let number = StoreFileNames.queueSegmentNumber(name) { numbers.append(number) }
        }
        numbers.sort()
        var headers: [QueueSegmentHeader?] = []
        for number in numbers {
            let path = joinPath(directory, StoreFileNames.queueSegment(number))
            headers.append(try QueueSegmentReader(path: path, fileSystem: fileSystem).readHeader())
        }
        var unacked: [RecoveredMessage] = []
        var loadedBytes = 0
        var lastSequence: UInt64 = 0
        /// The largest sequence of every record read so far, acked ones included.
        var largestRecordSequence: UInt64 = 0
        var activeLength: Int64 = 0
        var deleted = false
        for (index, number) in numbers.enumerated() {
            let path = joinPath(directory, StoreFileNames.queueSegment(number))
            let isLast = index == numbers.count - 1
            // A segment whose successor starts at or below the low-water mark is fully acked: delete
            // unread. Not when the successor is the last segment: that one may be left by a failed roll
            // (its header names a first sequence that went into this segment instead).
            if index + 2 < numbers.count, let next = headers[index + 1], next.firstSequence <= storedAcked.lowWater,
               headers[index] != nil {
                try fileSystem.remove(path)
                report.deletedSegments += 1
                deleted = true
                continue
            }
            let largestBefore = largestRecordSequence
            var recordCount = 0
            let contents = try QueueSegmentReader(path: path, fileSystem: fileSystem).read { sequence in
                recordCount += 1
                largestRecordSequence = max(largestRecordSequence, sequence)
                return storedAcked.contains(sequence)
            }
            guard let header = contents.header else {
                if isLast && contents.summary.validLength == 0 {
                    // Crashed while creating the segment: nothing was ever acknowledged from it.
                    if contents.fileSize > 0 {
                        report.tornTails.append(.init(file: path, offset: 0, reason: contents.summary.tornTail?.reason ?? "empty segment"))
                    }
                    try fileSystem.remove(path)
                    deleted = true
                    continue
                }
                throw StoreError.corruption("segment has no header record", file: path, offset: 0)
            }
            guard header.segment == number else {
                throw StoreError.corruption("segment header says number \(header.segment)", file: path, offset: 0)
            }
            if isLast && recordCount == 0 && index > 0 && header.firstSequence <= largestBefore {
                // Left by a roll that failed after writing the header (and whose clean-up failed too):
                // the records from its first sequence on went into the segment before it.
                report.tornTails.append(.init(file: path, offset: 0, reason: "segment left by a failed roll: its first sequence "
                                              + "\(header.firstSequence) is in the segment before it"))
                try fileSystem.remove(path)
                deleted = true
                continue
            }
            if let torn = contents.summary.tornTail {
                let file = try fileSystem.open(path, mode: .readWrite)
                defer { try? file.close() }
                try file.truncate(to: contents.summary.validLength)
                try file.sync()
                // A zero-filled tail is a preallocated segment's unused end (or a never-written region), not a tear.
                if torn.reason != QueueFormat.zeroFilledTailReason {
                    report.tornTails.append(.init(file: path, offset: contents.summary.validLength, reason: torn.reason))
                }
            }
            for (offset, var record) in contents.records {
                guard record.sequence > lastSequence else {
                    throw StoreError.corruption("sequence \(record.sequence) repeats an earlier segment's", file: path, offset: 0)
                }
                // Deliveries before the restart count toward maxAttempts.
                record.attempts = max(record.attempts, consumer.deliveries[record.sequence] ?? 0)
                // Payloads past the memory budget stay on disk, read back when delivered.
                let isLoaded = loadedBytes + record.payload.count <= options.maxMemoryPayloadBytes
                if isLoaded { loadedBytes += record.payload.count } else { record.payload = [] }
                unacked.append(RecoveredMessage(record: record, location: QueueRecordLocation(segment: number, offset: offset),
                                                isPayloadLoaded: isLoaded))
            }
            lastSequence = max(lastSequence, contents.records.last?.record.sequence ?? 0, header.firstSequence - 1)
            segments.append(Segment(number: number, firstSequence: header.firstSequence, path: path))
            activeLength = contents.summary.validLength  // the last segment kept becomes the active one
        }
        // Acked records are not kept by `read(skipping:)`, but the acked set's upper bound covers
        // them: the next sequence never reuses one that was written or acked.
        let nextSequence = max(lastSequence + 1, storedAcked.upperBound, segments.last.map { $0.firstSequence } ?? 1, 1)

        // 3. The acked set is the complement of the unacked records below nextSequence.
        var acked = AckedSequences(lowWater: unacked.first?.record.sequence ?? nextSequence)
        for (index, record) in unacked.map(\.record).enumerated() {
            let end = index + 1 < unacked.count ? unacked[index + 1].record.sequence : nextSequence
            if end > record.sequence + 1 { acked.insert((record.sequence + 1)..<end) }
        }
        report.unackedMessages = unacked.count

        // 4. The active segment: the last one, or a new one.
        let writer: LogWriter
        if let last = segments.last {
            let file = try fileSystem.open(last.path, mode: .readWrite)
            writer = LogWriter(file: file, length: activeLength)
            if options.preallocatedSegmentBytes > 0 && activeLength < Int64(options.maxSegmentBytes) {
                // Preallocate the rest of the active segment again (it was cut back on close or above).
                do {
                    try zeroFill(file, from: activeLength, to: Int64(options.preallocatedSegmentBytes))
                    try file.sync()
                } catch {
                    try? file.close()
                    throw error
                }
            }
        } else {
            let number = (numbers.last ?? 0) + 1
            let segment = Segment(number: number, firstSequence: nextSequence,
                                  path: joinPath(directory, StoreFileNames.queueSegment(number)))
            writer = try createSegment(segment, fileSystem: fileSystem, directory: directory,
                                       preallocatedBytes: options.preallocatedSegmentBytes)
            segments.append(segment)
        }
        var deliveries: [UInt64: UInt32] = [:]
        for message in unacked where message.record.attempts > 0 { deliveries[message.record.sequence] = message.record.attempts }
        let consumerWriter: LogWriter
        do {
            if deleted { try fileSystem.syncDirectory(directory) }
            consumerWriter = try writeConsumerSnapshot(acked, deliveries: deliveries, path: consumerPath, fileSystem: fileSystem,
                                                       testHooks: testHooks)
        } catch {
            try? writer.file.close()
            throw error
        }
        do {
            try fileSystem.syncDirectory(directory)
        } catch {
            try? writer.file.close()
            try? consumerWriter.file.close()
            throw error
        }
        let storage = QueueStorage(directory: directory, fileSystem: fileSystem, options: options, testHooks: testHooks, segments: segments,
                                   writer: writer, nextSequence: nextSequence, acked: acked, consumerWriter: consumerWriter)
        storage.deliveries = deliveries
        storage.deleteConsumedSegments()
        return (storage, unacked, report)
    }
}
