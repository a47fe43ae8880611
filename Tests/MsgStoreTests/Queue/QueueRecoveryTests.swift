import Foundation
import Testing
@testable import MsgStore

/// Reopen, torn tails, bit flips, space reclaimed.
@Suite struct QueueRecoveryTests {
    @Test func reopenKeepsUnackedAndDropsAcked() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        var queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        _ = try await queue.enqueue(batch: (1...10).map { queueBytes("m\($0)") })
        let got = try await queue.receive(max: 10)
        try await queue.ack(got.filter { $0.sequence % 2 == 0 })
        try await queue.close()

        queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        #expect(queue.recoveryReport.unackedMessages == 5)
        let after = try await queue.receive(max: 10)
        #expect(after.map(\.sequence) == [1, 3, 5, 7, 9])
        #expect(after.allSatisfy { $0.attempt == 2 }, "leases are not persisted, delivery counts are")
        try await queue.close()
    }

    @Test func deliveriesBeforeRestartsCountTowardMaxAttempts() async throws {
        // A message whose consumer crashes every time it is delivered must still reach the dead-letter queue.
        let dir = TestDirectory(); defer { dir.cleanUp() }
        for attempt in 1...2 {
            let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxAttempts: 2))
            let got = try await queue.receive(max: 1, visibilityTimeout: .seconds(600))
            if attempt == 1 { #expect(got.isEmpty); _ = try await queue.enqueue(queueBytes("poison")) }
            else { #expect(got.first?.attempt == 2) }
            if attempt == 1 { #expect(try await queue.receive(visibilityTimeout: .seconds(600)).first?.attempt == 1) }
            try await queue.close()   // "crash": never acked
        }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxAttempts: 2))
        #expect(try await queue.receive().isEmpty, "2 deliveries done: not delivered a third time")
        #expect(queue.stats.depth == 0 && queue.stats.deadLetters == 1)
        let letter = try #require(try await queue.deadLetterQueue?.receive().first)
        #expect(queueText(letter.payload) == "poison" && letter.deadLetter?.reason.contains("restart") == true)
        try await queue.close()
    }

    @Test func payloadsOverTheMemoryBudgetAreReadBackFromDisk() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        var options = smallQueueOptions(maxAttempts: 2, maxSegmentBytes: 64 << 10)
        options.maxMemoryPayloadBytes = 1_000
        // Sizes that cross 32 KiB blocks (multi-fragment records) and block trailers.
        let payloads = (0..<40).map { index in
            (0..<((index * 7_919) % 40_000)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
        }
        var queue = try DurableQueue.open(directory: dir.queue(), options: options)
        try await queue.enqueue(batch: payloads)
        let first = try await queue.receive(max: 40, visibilityTimeout: .seconds(600))
        let isFirstIntact = first.map(\.payload) == payloads
        #expect(isFirstIntact)
        try await queue.close()
        queue = try DurableQueue.open(directory: dir.queue(), options: options)   // recovery under the budget
        let again = try await queue.receive(max: 40)
        let isAgainIntact = again.map(\.payload) == payloads
        #expect(isAgainIntact && again.allSatisfy { $0.attempt == 2 })
        for message in again.suffix(3) { try await queue.nack(message) }        // dead letters read from disk
        let letters = try await queue.deadLetterQueue?.receive(max: 10) ?? []
        let areLettersIntact = letters.map(\.payload) == Array(payloads.suffix(3))
        #expect(areLettersIntact)
        try await queue.close()
    }

    @Test func sequencesAreNeverReusedAfterEverythingIsAcked() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        var queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        _ = try await queue.enqueue(batch: [queueBytes("a"), queueBytes("b"), queueBytes("c")])
        try await queue.ack(try await queue.receive(max: 3))
        try await queue.close()
        queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        #expect(try await queue.enqueue(queueBytes("d")) == 4)
        try await queue.close()
    }

    @Test func deadLettersSurviveReopenWithReason() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        var queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxAttempts: 1))
        _ = try await queue.enqueue(queueBytes("x"))
        try await queue.nack(try await queue.receive()[0])
        try await queue.close()
        queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxAttempts: 1))
        #expect(queue.stats.depth == 0 && queue.stats.deadLetters == 1)
        let letter = try #require(try await queue.deadLetterQueue?.receive().first)
        #expect(letter.deadLetter?.originalSequence == 1 && letter.deadLetter?.reason.contains("nacked") == true)
        try await queue.close()
    }

    @Test func tornTailIsCutAndReported() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        var queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxSegmentBytes: 1 << 20))
        _ = try await queue.enqueue(batch: (1...5).map { queueBytes("record-\($0)") })
        try await queue.close()
        let segment = dir.queue() + "/000001.qlog"
        let size = try PosixFileSystem().fileSize(segment)
        // Cut the last record in half, as a crash during its write would.
        let file = try PosixFileSystem().open(segment, mode: .readWrite)
        try file.truncate(to: size - 6)
        try file.close()

        queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxSegmentBytes: 1 << 20))
        let torn = try #require(queue.recoveryReport.tornTails.first)
        #expect(torn.file == segment)
        let messages = try await queue.receive(max: 10)
        #expect(messages.map { queueText($0.payload) } == (1...4).map { "record-\($0)" })
        #expect(try await queue.enqueue(queueBytes("after")) == 5)
        try await queue.close()
        queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxSegmentBytes: 1 << 20))
        #expect(queue.recoveryReport.tornTails.isEmpty)
        #expect(queue.stats.depth == 5)
        try await queue.close()
    }

    @Test func bitFlipInTheMiddleIsCorruptionNamingFileAndOffset() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxSegmentBytes: 1 << 20))
        _ = try await queue.enqueue(batch: (1...5).map { queueBytes("record-\($0)") })
        try await queue.close()
        let inspection = try QueueInspection.inspect(path: dir.queue(), entries: true)
        let victim = inspection.entries[2]
        let segment = victim.file
        var data = try Data(contentsOf: URL(fileURLWithPath: segment))
        data[Int(victim.offset) + 10] ^= 0x40
        try data.write(to: URL(fileURLWithPath: segment))

        #expect {
            try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxSegmentBytes: 1 << 20))
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.code == .corruption && error.file == segment && error.offset == victim.offset
        }
        let verdict = verifyQueue(path: dir.queue())
        #expect(!verdict.isOK)
        #expect(verdict.problems.first?.file == segment && verdict.problems.first?.offset == victim.offset)
    }

    @Test func verifyAcceptsASoundQueue() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        _ = try await queue.enqueue(batch: (1...100).map { queueBytes(String(repeating: "p", count: $0)) })
        try await queue.ack(try await queue.receive(max: 30))
        try await queue.close()
        let verdict = verifyQueue(path: dir.queue())
        #expect(verdict.isOK, "\(verdict.problems)")
        #expect(verdict.recordsChecked > 70)
    }

    @Test func inspectionReportsSegmentsDepthAndEntries() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxSegmentBytes: 2048))
        _ = try await queue.enqueue(batch: (1...40).map { queueBytes("entry-\($0)-" + String(repeating: "x", count: 100)) })
        try await queue.ack(try await queue.receive(max: 5))
        let live = try QueueInspection.inspect(path: dir.queue())  // next to the open queue: read-only
        #expect(live.depth == 35)
        try await queue.close()
        let inspection = try QueueInspection.inspect(path: dir.queue(), entries: true)
        #expect(inspection.depth == 35 && inspection.unackedRange == 6...40)
        #expect(inspection.segments.count > 1 && inspection.segmentBytes > 0)
        #expect(inspection.ackedLowWater == 6)
        let one = try QueueInspection.inspect(path: inspection.segments[0].path, entries: true)
        #expect(one.segments.count == 1 && one.entries.first?.sequence == inspection.segments[0].sequenceRange?.lowerBound)
    }

    @Test func consumedSegmentsAreDeletedAndDiskReturnsToNearEmpty() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        var options = smallQueueOptions(maxSegmentBytes: 16 << 10)
        options.maxConsumerStateBytes = 4096
        let queue = try DurableQueue.open(directory: dir.queue(), options: options)
        let payload = [UInt8](repeating: 7, count: 200)
        for _ in 0..<20 {
            _ = try await queue.enqueue(batch: Array(repeating: payload, count: 100))
            while true {
                let batch = try await queue.receive(max: 37)
                if batch.isEmpty { break }
                try await queue.ack(batch)
            }
        }
        #expect(queue.stats.depth == 0 && queue.stats.ackedTotal == 2000)
        // 2,000 × 200 B ≈ 400 KB went through; what stays is at most the active segment + state.
        let usage = queueDiskUsage(dir.queue())
        #expect(usage < 40 << 10, "disk usage \(usage) bytes after everything was acked")
        #expect(queue.stats.segments <= 2)
        try await queue.close()
    }

    @Test func oneUnackedMessageDoesNotPinLaterSegments() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        var queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxSegmentBytes: 4096))
        let payload = [UInt8](repeating: 1, count: 500)
        _ = try await queue.enqueue(batch: Array(repeating: payload, count: 100))   // ~13 segments
        let all = try await queue.receive(max: 100, visibilityTimeout: .seconds(600))
        try await queue.ack(Array(all.dropFirst()))   // sequence 1 stays in flight
        #expect(queue.stats.segments <= 2)
        try await queue.close()
        queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxSegmentBytes: 4096))
        #expect(try await queue.receive(max: 10).map(\.sequence) == [1])
        #expect(try await queue.enqueue(payload) == 101)
        try await queue.close()
        #expect(verifyQueue(path: dir.queue()).isOK)
    }

    @Test func consumerStateIsCompactedAndStillCorrect() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        var options = smallQueueOptions(maxSegmentBytes: 1 << 20)
        options.maxConsumerStateBytes = 256
        var queue = try DurableQueue.open(directory: dir.queue(), options: options)
        _ = try await queue.enqueue(batch: (1...300).map { queueBytes("m\($0)") })
        let all = try await queue.receive(max: 300)
        for message in all where message.sequence % 3 != 0 { try await queue.ack(message) }  // one delta each
        try await queue.close()
        #expect(try PosixFileSystem().fileSize(dir.queue() + "/CONSUMER.qstate") < 2048)
        queue = try DurableQueue.open(directory: dir.queue(), options: options)
        let left = try await queue.receive(max: 300)
        #expect(left.map(\.sequence) == Array(stride(from: 3, through: 300, by: 3)))
        try await queue.close()
    }

    @Test func segmentCreatedButEmptyAtCrashIsDiscarded() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        var queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        _ = try await queue.enqueue(queueBytes("a"))
        try await queue.close()
        // A crash right after creating the next segment file, before its header was written.
        _ = FileManager.default.createFile(atPath: dir.queue() + "/000002.qlog", contents: Data())
        queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        #expect(queue.stats.depth == 1)
        #expect(try await queue.enqueue(queueBytes("b")) == 2)
        try await queue.close()
        queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        #expect(try await queue.receive(max: 5).map { queueText($0.payload) } == ["a", "b"])
        try await queue.close()
        #expect(verifyQueue(path: dir.queue()).isOK)
    }
}

/// I/O failures: a failed `fdatasync` fails the callers and makes the queue
/// read-only (enqueues and acks refused, receives go on).
@Suite struct QueueFaultTests {
    @Test func failedSyncFailsEnqueueAndMakesTheQueueReadOnly() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: smallQueueOptions())
        _ = try await queue.enqueue(queueBytes("durable"))
        fileSystem.failSyncs(true)
        await #expect { try await queue.enqueue(queueBytes("lost")) } throws: { ($0 as? StoreError)?.code == .unavailable }
        fileSystem.failSyncs(false)
        await #expect { try await queue.enqueue(queueBytes("after")) } throws: { ($0 as? StoreError)?.code == .unavailable }
        #expect(queue.writeRefusal?.code == .unavailable)
        #expect(try await queue.receive().map { queueText($0.payload) } == ["durable"])
        try? await queue.close()
        let reopened = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        let messages = try await reopened.receive(max: 10)
        #expect(messages.first.map { queueText($0.payload) } == "durable")
        try await reopened.close()
    }

    @Test func failedAckSyncFailsTheAck() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let fileSystem = FaultInjectingFileSystem()
        let queue = try DurableQueue.open(directory: dir.queue(), fileSystem: fileSystem, options: smallQueueOptions())
        _ = try await queue.enqueue(queueBytes("x"))
        let message = try await queue.receive()[0]
        fileSystem.failSyncs(true)
        await #expect(throws: StoreError.self) { try await queue.ack(message) }
        fileSystem.failSyncs(false)
        try? await queue.close()
    }
}
