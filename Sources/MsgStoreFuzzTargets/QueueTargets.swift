#if DEBUG || MSGSTORE_FUZZ
@testable import MsgStore

/// The durable queue's files (docs/queue-format.md).
enum QueueTargets {
    static let directory = "/q"
    static let segmentPath = "/q/" + StoreFileNames.queueSegment(1)
    static let consumerPath = "/q/" + StoreFileNames.queueConsumerState

    // MARK: queue

    /// A queue segment: read (header, message records, sequence order),
    /// each record read again from its location as a delivery does,
    /// inspected, verified, and recovered as opening the queue does.
    static func segment(_ input: [UInt8]) {
        Contract.withVariants(input, repair: ChecksumRepair.logFile) { bytes in
            let fileSystem = MemoryFileSystem()
            fileSystem.put(segmentPath, bytes)
            do {
                let contents = try QueueSegmentReader(path: segmentPath, fileSystem: fileSystem).read()
                let file = try fileSystem.open(segmentPath, mode: .read)
                defer { try? file.close() }
                for (offset, record) in contents.records {
                    let again = try QueueRecordLocation.readRecord(from: file, at: offset)
                    Contract.expect(again == record, "record at \(offset) reads back differently from its location")
                    if record.deadLetter.map({ $0.reason.utf8.count <= QueueFormat.maxReasonBytes }) ?? true {
                        let decoded = try record.encoded().withUnsafeBytes { try QueueRecord.decode($0, file: segmentPath, offset: offset) }
                        Contract.expect(decoded == record, "a queue record does not survive re-encoding")
                    }
                }
                if let header = contents.header {
                    let decoded = try header.encoded().withUnsafeBytes { try QueueSegmentHeader.decode($0, file: segmentPath, offset: 0) }
                    Contract.expect(decoded == header, "a segment header does not survive re-encoding")
                }
            } catch {
                Contract.check(error, "QueueSegmentReader")
            }
            do {
                _ = try QueueSegmentReader(path: segmentPath, fileSystem: fileSystem).readHeader()
            } catch {
                Contract.check(error, "QueueSegmentReader.readHeader")
            }
            inspectAndRecover(fileSystem)
        }
    }

    // MARK: queue-state

    /// `CONSUMER.qstate` (acks and delivery counts) beside a small valid
    /// segment: read, inspected, verified, and recovered as opening the
    /// queue does. A snapshot that decodes must survive a re-encoding.
    static func consumerState(_ input: [UInt8]) {
        Contract.withVariants(input, repair: ChecksumRepair.logFile) { bytes in
            let fileSystem = MemoryFileSystem()
            fileSystem.put(segmentPath, sampleSegment)
            fileSystem.put(consumerPath, bytes)
            do {
                let (state, _) = try ConsumerState.read(path: consumerPath, fileSystem: fileSystem)
                if let acked = state.acked {
                    var again: AckedSequences?
                    try acked.encodedSnapshot().withUnsafeBytes { try AckedSequences.apply($0, to: &again, file: consumerPath, offset: 0) }
                    Contract.expect(again == acked, "an acked set does not survive its snapshot")
                }
            } catch {
                Contract.check(error, "ConsumerState.read")
            }
            inspectAndRecover(fileSystem)
        }
    }

    /// A segment holding messages 1...6, the third a dead letter.
    static let sampleSegment: [UInt8] = {
        let fileSystem = MemoryFileSystem()
        let file = try! fileSystem.open("/sample", mode: .createTruncate)
        let writer = LogWriter(file: file)
        writer.append(QueueSegmentHeader(segment: 1, firstSequence: 1).encoded())
        for sequence in UInt64(1)...6 {
            let deadLetter = sequence == 3 ? DeadLetterInfo(originalSequence: 77, reason: "too many attempts") : nil
            writer.append(QueueRecord(sequence: sequence, enqueuedAtMicros: 1_700_000_000_000_000 + Int64(sequence),
                                      attempts: UInt32(sequence % 3), deadLetter: deadLetter,
                                      payload: Array("message \(sequence)".utf8)).encoded())
        }
        try! writer.flush()
        return fileSystem.contents("/sample")!
    }()

    /// Inspects and verifies the queue directory, then recovers it as
    /// `DurableQueue.open` does (which rewrites the consumer state and may
    /// cut or delete segments), then recovers it again: the second recovery
    /// must find the same unacked messages and nothing to repair.
    static func inspectAndRecover(_ fileSystem: MemoryFileSystem) {
        do {
            _ = try QueueInspection.inspect(path: directory, fileSystem: fileSystem, entries: true)
        } catch {
            Contract.check(error, "QueueInspection")
        }
        _ = verifyQueue(path: directory, fileSystem: fileSystem)

        let first: [RecoveredMessage]
        do {
            let (storage, unacked, _) = try QueueStorage.recover(directory: directory, fileSystem: fileSystem, options: QueueOptions(),
                                                                 testHooks: TestHooks())
            try storage.close()
            first = unacked
        } catch {
            Contract.check(error, "QueueStorage.recover")
            return
        }
        do {
            let (storage, unacked, report) = try QueueStorage.recover(directory: directory, fileSystem: fileSystem, options: QueueOptions(),
                                                                      testHooks: TestHooks())
            try storage.close()
            Contract.expect(unacked.map(\.record.sequence) == first.map(\.record.sequence),
                            "a second recovery finds other unacked messages")
            Contract.expect(report.tornTails.isEmpty, "a second recovery repairs again: \(report.tornTails)")
        } catch {
            fatalError("inconsistent decode: a queue recovery accepted fails the second time: \(error)")
        }
    }
}
#endif
