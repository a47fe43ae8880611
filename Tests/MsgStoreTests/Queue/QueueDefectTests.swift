#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Testing
@testable import MsgStore

/// Regression tests for reviewed defects of the durable queue: each failure
/// path is made deterministic with ``FaultInjectingFileSystem`` (or a test seam).
@Suite struct QueueDefectTests {
    // MARK: 12. Ack honours the lease

    @Test func staleAckAfterNackFailsAndLeavesTheMessageWithItsNewHolder() async throws {
        let dir = TestDirectory("defect12"); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        _ = try await queue.enqueue(batch: [queueBytes("x"), queueBytes("y")])
        let first = try await queue.receive(max: 2, visibilityTimeout: .seconds(600))
        try await queue.nack(first[0])
        let second = try await queue.receive(max: 1, visibilityTimeout: .seconds(600))
        #expect(second.map(\.sequence) == [first[0].sequence] && second[0].leaseID != first[0].leaseID)
        // A batch with one stale lease is refused as a whole.
        await #expect { try await queue.ack([first[1], first[0]]) } throws: { ($0 as? StoreError)?.code == .leaseNotHeld }
        await #expect { try await queue.ack(first[0]) } throws: { ($0 as? StoreError)?.code == .leaseNotHeld }
        #expect(queue.stats.depth == 2 && queue.stats.inFlight == 2, "the stale ack removed the new holder's message")
        try await queue.ack([first[1], second[0]])
        #expect(queue.stats.depth == 0)
        try await queue.ack(second[0])  // already acked: nothing to do
        try await queue.close()
    }

    @Test func lateAckAfterLeaseTimeoutFailsAndLeavesTheMessageWithItsNewHolder() async throws {
        let dir = TestDirectory("defect12"); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        _ = try await queue.enqueue(queueBytes("x"))
        let late = try await queue.receive(visibilityTimeout: .milliseconds(30))[0]
        try await Task.sleep(for: .milliseconds(100))
        let current = try await queue.receive(visibilityTimeout: .seconds(600))
        #expect(current.map(\.sequence) == [late.sequence] && current.map(\.attempt) == [2])
        await #expect { try await queue.ack(late) } throws: { ($0 as? StoreError)?.code == .leaseNotHeld }
        #expect(queue.stats.depth == 1 && queue.stats.inFlight == 1, "the late ack removed the new holder's message")
        try await queue.nack(current[0])  // the new holder still holds it
        #expect(try await queue.receive().map(\.attempt) == [3])
        try await queue.close()
    }

    // MARK: 13. Waiters and messages moving to the dead-letter queue

    @Test func receiveThatCannotReadPayloadsWakesTheWaitersItTookAndReleasesItsLeases() async throws {
        let dir = TestDirectory("defect13"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        var options = smallQueueOptions()
        options.maxMemoryPayloadBytes = 0  // every payload is read back from its segment
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: options)
        _ = try await queue.enqueue(queueBytes("on disk"))
        // A receiver suspended in a long poll, registered the way the queue registers them.
        let resumed = QueueTestFlag()
        Task {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                queue.state.withLock { $0.waiters[UInt64.max] = continuation }
            }
            resumed.set()
        }
        #expect(await queueEventually { queue.state.withLock { $0.waiters.count == 1 } })
        fileSystem.failOpens(containing: ".qlog")
        await #expect(throws: StoreError.self) { try await queue.receive(max: 1) }
        fileSystem.failOpens(containing: nil)
        #expect(await queueEventually(seconds: 2) { resumed.isSet }, "the waiter taken by the failed receive was never resumed")
        // Nothing was handed out: the message is deliverable at once, as a first delivery.
        let again = try await queue.receive(max: 1)
        #expect(again.map(\.attempt) == [1] && again.map { queueText($0.payload) } == ["on disk"])
        try await queue.close()
    }

    @Test func failedMoveToTheDeadLetterQueueLeavesTheMessageDeliverable() async throws {
        let dir = TestDirectory("defect13"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        var options = smallQueueOptions(maxAttempts: 1)
        options.maxMemoryPayloadBytes = 0
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: options)
        _ = try await queue.enqueue(queueBytes("poison"))
        let message = try await queue.receive()[0]
        fileSystem.failOpens(containing: dir.queue() + "/")  // the payload cannot be read for the move
        await #expect(throws: StoreError.self) { try await queue.nack(message) }
        fileSystem.failOpens(containing: nil)
        #expect(queue.stats.depth == 1 && queue.stats.inFlight == 0, "the message stayed 'moving'")
        // The next receive finds it exhausted again and moves it.
        #expect(try await queue.receive().isEmpty)
        #expect(queue.stats.depth == 0 && queue.deadLetterQueue?.stats.depth == 1)
        #expect(try await queue.deadLetterQueue?.receive().map { queueText($0.payload) } == ["poison"])
        try await queue.close()
    }

    @Test func failedDeadLetterAppendDuringReceiveLeavesNothingMoving() async throws {
        let dir = TestDirectory("defect13"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: smallQueueOptions(maxAttempts: 1))
        _ = try await queue.enqueue(queueBytes("poison"))
        _ = try await queue.receive(visibilityTimeout: .milliseconds(20))
        try await Task.sleep(for: .milliseconds(80))
        fileSystem.failWrites(containing: ".dlq/")
        await #expect(throws: StoreError.self) { try await queue.receive() }  // the lease expired; the move fails
        #expect(queue.stats.depth == 1 && queue.stats.inFlight == 0, "the message stayed 'moving'")
        // Not stranded: the next receive tries the move again (and the failed dead-letter queue refuses it).
        await #expect(throws: StoreError.self) { try await queue.receive() }
        fileSystem.failWrites(containing: nil)
        try? await queue.close()
        let reopened = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxAttempts: 1))
        #expect(try await reopened.receive().isEmpty)
        #expect(reopened.deadLetterQueue?.stats.depth == 1 && reopened.stats.depth == 0)
        try await reopened.close()
    }

    @Test func longPollWhoseDeadlinePassesBeforeItIsRegisteredStillReturns() async throws {
        let dir = TestDirectory("defect13"); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        // Hold the receiver (once) right after it started its wake-up timer, past its 20 ms deadline.
        let calls = QueueTestCounter()
        queue.state.withLock { $0.onWaitTimerStarted = { if calls.increment() == 1 { usleep(300_000) } } }
        let returned = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { _ = try await queue.receive(waitTimeout: .milliseconds(20)); return true }
            group.addTask { try await Task.sleep(for: .seconds(3)); return false }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        #expect(calls.value >= 1)
        #expect(returned, "the long poll missed its deadline and waited until cancelled")
        try await queue.close()
    }

    // MARK: 14. No descriptor is closed twice

    @Test func posixHandleClosedTwiceDoesNotCloseARecycledDescriptor() throws {
        let dir = TestDirectory("defect14"); defer { dir.cleanUp() }
        let fileSystem = PosixFileSystem()
        let first = try fileSystem.open(dir.path + "/first", mode: .createTruncate)
        try first.close()
        let second = try fileSystem.open(dir.path + "/second", mode: .createTruncate)  // likely gets the same number
        #expect(throws: Never.self) { try first.close() }
        #expect(throws: Never.self) { try second.write(queueBytes("still open"), at: 0) }
        #expect(try second.readAll() == queueBytes("still open"))
        try second.close()
    }

    @Test func segmentRollThatCannotOpenTheNextSegmentClosesNothingTwice() async throws {
        let dir = TestDirectory("defect14"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: smallQueueOptions(maxSegmentBytes: 1024))
        _ = try await queue.enqueue(queueBytes("durable"))
        fileSystem.failOpens(containing: StoreFileNames.queueSegment(2))
        // Transient: the roll is deferred and the batch goes on in segment 1 (QueueTransientFailureTests).
        _ = try await queue.enqueue(batch: Array(repeating: [UInt8](repeating: 1, count: 200), count: 10))
        fileSystem.failOpens(containing: nil)
        try? await queue.close()
        #expect(fileSystem.repeatedCloses == 0)
    }

    @Test func consumerStateRewriteThatCannotOpenItsFileClosesNothingTwice() async throws {
        let dir = TestDirectory("defect14"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        var options = smallQueueOptions()
        options.maxConsumerStateBytes = 32  // the first deliveries record triggers a rewrite
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: options)
        _ = try await queue.enqueue(batch: (0..<20).map { queueBytes("m\($0)") })
        fileSystem.failOpens(containing: StoreFileNames.queueConsumerState + ".tmp")
        let messages = try await queue.receive(max: 20)
        // Transient: the rewrite is deferred and the ack succeeds (QueueTransientFailureTests).
        try await queue.ack(messages)
        fileSystem.failOpens(containing: nil)
        try? await queue.close()
        #expect(fileSystem.repeatedCloses == 0)
    }

    // MARK: 15. An enqueue committed in a batch whose acks fail

    @Test func enqueueCommittedInABatchWhoseAckFailsIsReportedDurable() async throws {
        let dir = TestDirectory("defect15"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: smallQueueOptions())
        _ = try await queue.enqueue(queueBytes("a"))
        let a = try await queue.receive(visibilityTimeout: .seconds(600))[0]
        // Hold the queue's thread in the fdatasync of "b1", so that "b2" and the ack of "a" form the next batch.
        fileSystem.holdSyncs(containing: ".qlog")
        let first = Task { try await queue.enqueue(queueBytes("b1")) }
        #expect(await queueEventually { fileSystem.heldSyncs == 1 })
        let second = Task { try await queue.enqueue(queueBytes("b2")) }
        let ack = Task { try await queue.ack(a) }
        #expect(await queueEventually { queue.mailbox.pendingCount == 2 })
        fileSystem.failSyncs(containing: StoreFileNames.queueConsumerState)  // the ack delta's fdatasync fails
        fileSystem.holdSyncs(containing: nil)
        _ = try await first.value
        let b2 = await second.result
        await #expect(throws: StoreError.self) { try await ack.value }
        fileSystem.failSyncs(containing: nil)
        try? await queue.close()
        let reopened = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        let payloads = try await reopened.receive(max: 10).map { queueText($0.payload) }
        try await reopened.close()
        let isReportedDurable = (try? b2.get()) != nil
        #expect(payloads.contains("b2") == isReportedDurable, "b2 reported \(isReportedDurable ? "durable" : "failed"); on disk: \(payloads)")
        #expect(isReportedDurable, "its batch was committed before the ack failed")
    }

    // MARK: 2(c). A failed enqueue never becomes durable

    @Test func failedWriteIsNotWrittenByClose() async throws {
        let dir = TestDirectory("defect2c"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: smallQueueOptions())
        _ = try await queue.enqueue(queueBytes("durable"))
        fileSystem.failWrites(containing: ".qlog")
        await #expect(throws: StoreError.self) { try await queue.enqueue(queueBytes("failed")) }
        fileSystem.failWrites(containing: nil)
        try? await queue.close()
        let reopened = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        #expect(try await reopened.receive(max: 10).map { queueText($0.payload) } == ["durable"])
        try await reopened.close()
    }

    @Test func failedSyncLeavesNoRecordOfTheEnqueue() async throws {
        let dir = TestDirectory("defect2c"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: smallQueueOptions())
        _ = try await queue.enqueue(queueBytes("durable"))
        fileSystem.failSyncs(containing: ".qlog")
        await #expect(throws: StoreError.self) { try await queue.enqueue(queueBytes("failed")) }
        fileSystem.failSyncs(containing: nil)
        try? await queue.close()
        let reopened = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        #expect(try await reopened.receive(max: 10).map { queueText($0.payload) } == ["durable"])
        try await reopened.close()
    }

    @Test func failedBatchAcrossASegmentRollLeavesNoRecord() async throws {
        let dir = TestDirectory("defect2c"); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        let options = smallQueueOptions(maxSegmentBytes: 1024)
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: options)
        _ = try await queue.enqueue(queueBytes("durable"))
        // The roll syncs the batch's first records into segment 1 and creates segment 2 (its header
        // written); then the batch's write to segment 2 fails.
        fileSystem.failWrites(containing: StoreFileNames.queueSegment(2), after: 1)
        await #expect(throws: StoreError.self) {
            try await queue.enqueue(batch: (0..<10).map { queueBytes("failed \($0) " + String(repeating: "z", count: 200)) })
        }
        fileSystem.failWrites(containing: nil)
        try? await queue.close()
        let reopened = try DurableQueue.open(directory: dir.queue(), options: options)
        #expect(try await reopened.receive(max: 20).map { queueText($0.payload) } == ["durable"])
        #expect(try await reopened.enqueue(queueBytes("next")) > 1)
        try await reopened.close()
        #expect(verifyQueue(path: dir.queue()).isOK)
    }
}
