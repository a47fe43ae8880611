import Foundation
import Testing
@testable import MsgStore

/// Transient versus fatal failures of the durable queue, as the engine
/// classifies them. A failure before any byte of a new file was relied on —
/// creating the next segment, writing a new consumer-state snapshot — is
/// transient: the queue goes on with its current file and tries again later
/// with backoff; the enqueue or ack that triggered it succeeds. A failed write
/// or sync of data an acknowledgement depends on is fatal: the queue becomes
/// read-only (`.unavailable`), and receives of durable messages go on.
@Suite struct QueueTransientFailureTests {
    /// How a file operation is made to fail.
    enum Fault: String, CaseIterable, Sendable {
        /// EMFILE-like: the file cannot be opened (or created).
        case open
        /// ENOSPC-like: the file is created, but writing its first record fails.
        case write
        /// The file is created and written, but its `fdatasync` fails.
        case sync

        func arm(_ fileSystem: FaultInjectingFileSystem, _ fragment: String?) {
            switch self {
            case .open: fileSystem.failOpens(containing: fragment)
            case .write: fileSystem.failWrites(containing: fragment)
            case .sync: fileSystem.failSyncs(containing: fragment)
            }
        }
    }

    /// Every visible message's payload, oldest first, leased for long (not acked).
    static func receiveAll(_ queue: DurableQueue) async throws -> [String] {
        var texts: [String] = []
        while true {
            let messages = try await queue.receive(max: 100, visibilityTimeout: .seconds(600))
            if messages.isEmpty { return texts }
            texts += messages.map { queueText($0.payload) }
        }
    }

    /// The queue's refusal of further writes, if it has one.
    static func refusal(_ queue: DurableQueue) -> StoreError? { queue.writeRefusal }

    // MARK: Segment roll

    @Test(arguments: Fault.allCases)
    func segmentRollThatCannotCreateTheNextSegmentIsRetriedAndTheEnqueueSucceeds(_ fault: Fault) async throws {
        let dir = TestDirectory("transient-roll"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        let options = smallQueueOptions(maxSegmentBytes: 1024)
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: options)
        var expected = ["first"]
        _ = try await queue.enqueue(queueBytes("first"))
        fault.arm(fileSystem, StoreFileNames.queueSegment(2))
        // This batch crosses the roll: the roll is deferred, the batch goes on in segment 1.
        let batch = (0..<10).map { "batch \($0) " + String(repeating: "b", count: 200) }
        _ = try await queue.enqueue(batch: batch.map(queueBytes))
        expected += batch
        for index in 0..<5 {
            let text = "while failing \(index) " + String(repeating: "f", count: 200)
            _ = try await queue.enqueue(queueBytes(text))
            expected.append(text)
        }
        #expect(queue.stats.segments == 1, "no segment could be created")
        #expect(Self.refusal(queue) == nil, "a failed segment creation made the queue refuse work")
        #expect(queue.backgroundFailure != nil)
        fault.arm(fileSystem, nil)
        // Once the fault clears, a later enqueue rolls (after the backoff).
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        var index = 0
        while queue.stats.segments == 1 && ContinuousClock.now < deadline {
            let text = "after \(index)"
            _ = try await queue.enqueue(queueBytes(text))
            expected.append(text)
            index += 1
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(queue.stats.segments > 1, "the roll was never tried again")
        #expect(queue.backgroundFailure == nil)
        let text = "after the roll"
        _ = try await queue.enqueue(queueBytes(text))
        expected.append(text)
        #expect(try await Self.receiveAll(queue) == expected)
        try await queue.close()
        #expect(fileSystem.repeatedCloses == 0)
        // Everything survives close and reopen.
        let reopened = try DurableQueue.open(directory: dir.queue(), options: options)
        #expect(try await Self.receiveAll(reopened) == expected)
        try await reopened.close()
        let verdict = verifyQueue(path: dir.queue())
        #expect(verdict.isOK, "\(verdict.problems)")
    }

    @Test func segmentLeftBehindByAFailedRollDoesNotHideTheRecordsWrittenAfterIt() async throws {
        let dir = TestDirectory("transient-stale"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        let options = smallQueueOptions(maxSegmentBytes: 1024)
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: options)
        // Segment 1 passes its size with four records; all of them are acked.
        _ = try await queue.enqueue(batch: (0..<4).map { queueBytes("old \($0) " + String(repeating: "o", count: 300)) })
        try await queue.ack(try await queue.receive(max: 10))
        // The roll creates segment 2 (header written, first sequence 5), its sync fails, and so
        // does removing it: a segment claiming sequence 5 is left behind while 5 goes into segment 1.
        fileSystem.failSyncs(containing: StoreFileNames.queueSegment(2))
        fileSystem.failRemoves(containing: StoreFileNames.queueSegment(2))
        _ = try await queue.enqueue(queueBytes("after the failed roll"))
        fileSystem.failSyncs(containing: nil)
        fileSystem.failRemoves(containing: nil)
        #expect(fileSystem.exists(joinPath(dir.queue(), StoreFileNames.queueSegment(2))), "the test needs the stale segment")
        try await queue.close()
        // Segment 2's header must not prove segment 1 fully acked.
        let reopened = try DurableQueue.open(directory: dir.queue(), options: options)
        #expect(try await Self.receiveAll(reopened) == ["after the failed roll"])
        _ = try await reopened.enqueue(batch: (0..<6).map { queueBytes("next \($0) " + String(repeating: "n", count: 300)) })
        try await reopened.close()
        let again = try DurableQueue.open(directory: dir.queue(), options: options)
        #expect(try await Self.receiveAll(again) == ["after the failed roll"] + (0..<6).map { "next \($0) " + String(repeating: "n", count: 300) })
        try await again.close()
        let verdict = verifyQueue(path: dir.queue())
        #expect(verdict.isOK, "\(verdict.problems)")
    }

    @Test func consumedSegmentThatCannotBeDeletedIsDeletedLaterAndTheAckSucceeds() async throws {
        let dir = TestDirectory("transient-delete"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        let options = smallQueueOptions(maxSegmentBytes: 1024)
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: options)
        _ = try await queue.enqueue(batch: (0..<12).map { queueBytes("m\($0) " + String(repeating: "d", count: 300)) })
        #expect(queue.stats.segments > 2)
        fileSystem.failRemoves(containing: StoreFileNames.queueSegmentSuffix)
        try await queue.ack(try await queue.receive(max: 8))
        #expect(queue.writeRefusal == nil, "a failed segment deletion made the queue refuse work")
        fileSystem.failRemoves(containing: nil)
        let before = try fileSystem.contentsOfDirectory(dir.queue()).filter { $0.hasSuffix(StoreFileNames.queueSegmentSuffix) }.count
        try await queue.ack(try await queue.receive(max: 1))  // the next ack deletes what is consumed
        let after = try fileSystem.contentsOfDirectory(dir.queue()).filter { $0.hasSuffix(StoreFileNames.queueSegmentSuffix) }.count
        #expect(after < before, "the consumed segments were never deleted")
        try await queue.close()
        let reopened = try DurableQueue.open(directory: dir.queue(), options: options)
        #expect(try await Self.receiveAll(reopened) == (9..<12).map { "m\($0) " + String(repeating: "d", count: 300) })
        try await reopened.close()
    }

    // MARK: Consumer state rewrite

    @Test(arguments: [Fault.open, .sync])
    func consumerStateRewriteThatCannotWriteItsNewFileIsRetriedAndTheAckSucceeds(_ fault: Fault) async throws {
        let dir = TestDirectory("transient-consumer"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        var options = smallQueueOptions()
        options.maxConsumerStateBytes = 64  // a few ack deltas trigger a rewrite
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: options)
        let all = (0..<60).map { "m\($0)" }
        _ = try await queue.enqueue(batch: all.map(queueBytes))
        let consumerPath = joinPath(dir.queue(), StoreFileNames.queueConsumerState)
        fault.arm(fileSystem, StoreFileNames.queueConsumerState + ".tmp")
        var acked: Set<String> = []
        // Ack every other message, in ones: each ack leaves a gap, so the state keeps growing.
        for _ in 0..<10 {
            let messages = try await queue.receive(max: 2, visibilityTimeout: .seconds(600))
            try await queue.ack(messages[0])
            acked.insert(queueText(messages[0].payload))
        }
        #expect(Self.refusal(queue) == nil, "a failed consumer-state rewrite made the queue refuse work")
        #expect(queue.backgroundFailure != nil)
        let sizeWhileFailing = try fileSystem.fileSize(consumerPath)
        #expect(sizeWhileFailing > Int64(options.maxConsumerStateBytes), "the rewrite was not deferred")
        fault.arm(fileSystem, nil)
        // Once the fault clears, a later ack rewrites the file (after the backoff).
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while try fileSystem.fileSize(consumerPath) >= sizeWhileFailing && ContinuousClock.now < deadline {
            let messages = try await queue.receive(max: 2, visibilityTimeout: .seconds(600))
            guard !messages.isEmpty else { break }
            try await queue.ack(messages[0])
            acked.insert(queueText(messages[0].payload))
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(try fileSystem.fileSize(consumerPath) < sizeWhileFailing, "the rewrite was never tried again")
        #expect(queue.backgroundFailure == nil)
        try await queue.close()
        #expect(fileSystem.repeatedCloses == 0)
        let reopened = try DurableQueue.open(directory: dir.queue(), options: options)
        #expect(try await Self.receiveAll(reopened) == all.filter { !acked.contains($0) })
        try await reopened.close()
    }

    @Test func consumerStateRenamedWhoseDirectorySyncFailsIsCurrentAndTheNextAckSyncsTheDirectory() async throws {
        let dir = TestDirectory("transient-dirsync"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        var options = smallQueueOptions()
        options.maxConsumerStateBytes = 64
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: options)
        _ = try await queue.enqueue(batch: (0..<10).map { queueBytes("m\($0)") })
        let messages = try await queue.receive(max: 10, visibilityTimeout: .seconds(600))
        let consumerPath = joinPath(dir.queue(), StoreFileNames.queueConsumerState)
        fileSystem.failDirectorySyncs(containing: dir.queue())
        // Once past 64 bytes, an ack's rewrite renames its snapshot into place (the file shrinks),
        // then the directory sync fails: the ack succeeds (it was durable in the old file).
        var acked = 0
        var rewritten = false
        while !rewritten && acked < 8 {
            let before = try fileSystem.fileSize(consumerPath)
            try await queue.ack(messages[acked])
            acked += 1
            rewritten = try fileSystem.fileSize(consumerPath) < before
        }
        #expect(rewritten && queue.writeRefusal == nil)
        fileSystem.failDirectorySyncs(containing: nil)
        try await queue.ack(messages[acked])  // syncs the directory first
        acked += 1
        #expect(queue.writeRefusal == nil)
        try await queue.close()
        let reopened = try DurableQueue.open(directory: dir.queue(), options: options)
        #expect(try await Self.receiveAll(reopened) == (acked..<10).map { "m\($0)" })
        try await reopened.close()
    }

    @Test func ackWhileTheRenamedConsumerStateCannotBeMadeDurableMakesTheQueueReadOnly() async throws {
        let dir = TestDirectory("transient-dirsync"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        var options = smallQueueOptions()
        options.maxConsumerStateBytes = 64
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: options)
        _ = try await queue.enqueue(batch: (0..<10).map { queueBytes("m\($0)") })
        let messages = try await queue.receive(max: 10, visibilityTimeout: .seconds(600))
        fileSystem.failDirectorySyncs(containing: dir.queue())
        // The acks that triggered the rewrite were durable in the old file: they succeed. A later ack
        // lives only in the renamed file, whose directory entry cannot be made durable: it fails.
        var failed = false
        for message in messages {
            do {
                try await queue.ack(message)
            } catch let error as StoreError {
                #expect(error.code == .unavailable)
                failed = true
                break
            }
        }
        #expect(failed && queue.writeRefusal?.code == .unavailable)
        fileSystem.failDirectorySyncs(containing: nil)
        try? await queue.close()
        let reopened = try DurableQueue.open(directory: dir.queue(), options: options)
        #expect(try await Self.receiveAll(reopened).count >= 1)
        try await reopened.close()
    }

    // MARK: Fatal failures

    @Test func failedSyncOfAnEnqueueMakesTheQueueReadOnlyAndReceivesGoOn() async throws {
        let dir = TestDirectory("fatal"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: smallQueueOptions())
        _ = try await queue.enqueue(batch: [queueBytes("a"), queueBytes("b")])
        let a = try await queue.receive(visibilityTimeout: .seconds(600))
        fileSystem.failSyncs(containing: ".qlog")
        await #expect { try await queue.enqueue(queueBytes("c")) } throws: { ($0 as? StoreError)?.code == .unavailable }
        fileSystem.failSyncs(containing: nil)
        // Read-only: later enqueues and acks are refused with the reason.
        await #expect { try await queue.enqueue(queueBytes("d")) } throws: {
            guard let error = $0 as? StoreError else { return false }
            return error.code == .unavailable && error.message.contains("read-only") && error.message.contains("fdatasync")
        }
        await #expect { try await queue.ack(a) } throws: { ($0 as? StoreError)?.code == .unavailable }
        #expect(Self.refusal(queue)?.code == .unavailable)
        // Receives of durable messages go on.
        #expect(try await Self.receiveAll(queue) == ["b"])
        try? await queue.close()
        let reopened = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        #expect(try await Self.receiveAll(reopened) == ["a", "b"])
        _ = try await reopened.enqueue(queueBytes("e"))
        try await reopened.close()
    }
}
