import Foundation
import Testing
@testable import MsgStore

/// Every transition of a message: enqueue → receive → ack, lease timeout,
/// nack, dead letter, redrive, FIFO, long poll, stats.
@Suite struct QueueTests {
    @Test func enqueueReceiveAck() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        let sequence = try await queue.enqueue(queueBytes("hello"))
        #expect(sequence == 1)
        #expect(queue.stats.depth == 1)
        let messages = try await queue.receive(max: 10)
        #expect(messages.count == 1)
        #expect(queueText(messages[0].payload) == "hello")
        #expect(messages[0].attempt == 1)
        #expect(queue.stats.inFlight == 1)
        try await queue.ack(messages[0])
        let stats = queue.stats
        #expect(stats.depth == 0 && stats.inFlight == 0 && stats.ackedTotal == 1 && stats.enqueuedTotal == 1)
        #expect(try await queue.receive(max: 10).isEmpty)
        try await queue.close()
    }

    @Test func firstDeliveryIsFIFO() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        let sequences = try await queue.enqueue(batch: (0..<50).map { queueBytes("m\($0)") })
        #expect(sequences == Array(1...50))
        var received: [String] = []
        while true {
            let batch = try await queue.receive(max: 7)
            if batch.isEmpty { break }
            received += batch.map { queueText($0.payload) }
            try await queue.ack(batch)
        }
        #expect(received == (0..<50).map { "m\($0)" })
        try await queue.close()
    }

    @Test func leaseTimeoutMakesMessageVisibleAgainWithNextAttempt() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        _ = try await queue.enqueue(queueBytes("x"))
        let first = try await queue.receive(visibilityTimeout: .milliseconds(50))
        #expect(first.count == 1 && first[0].attempt == 1)
        #expect(try await queue.receive().isEmpty, "leased: not visible")
        try await Task.sleep(for: .milliseconds(80))
        let second = try await queue.receive(visibilityTimeout: .seconds(10))
        #expect(second.count == 1 && second[0].attempt == 2 && second[0].sequence == first[0].sequence)
        try await queue.close()
    }

    @Test func nackMakesMessageVisibleAtOnce() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        _ = try await queue.enqueue(queueBytes("x"))
        let first = try await queue.receive()
        try await queue.nack(first[0])
        let second = try await queue.receive()
        #expect(second.count == 1 && second[0].attempt == 2)
        try await queue.nack(first[0])  // stale lease: no effect
        #expect(queue.stats.inFlight == 1)
        try await queue.close()
    }

    @Test func maxAttemptsMovesToDeadLetterQueueWithReason() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxAttempts: 2))
        _ = try await queue.enqueue(queueBytes("poison"))
        _ = try await queue.enqueue(queueBytes("fine"))
        for _ in 0..<2 {
            let got = try await queue.receive(max: 1, visibilityTimeout: .milliseconds(20))
            #expect(queueText(got[0].payload) == "poison")
            try await Task.sleep(for: .milliseconds(40))
        }
        // The third receive finds the exhausted lease and moves it; "fine" comes next.
        let next = try await queue.receive(max: 1)
        #expect(queueText(next[0].payload) == "fine")
        let stats = queue.stats
        #expect(stats.deadLetters == 1 && stats.depth == 1)
        let letters = try #require(try await queue.deadLetterQueue?.receive(max: 10))
        #expect(letters.count == 1 && queueText(letters[0].payload) == "poison")
        #expect(letters[0].deadLetter?.originalSequence == 1)
        #expect(letters[0].deadLetter?.reason.contains("2 deliveries") == true)
        try await queue.close()
    }

    @Test func nackPastMaxAttemptsDeadLetters() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxAttempts: 1))
        _ = try await queue.enqueue(queueBytes("x"))
        try await queue.nack(try await queue.receive()[0])
        #expect(queue.stats.depth == 0 && queue.stats.deadLetters == 1)
        try await queue.close()
    }

    @Test func redriveMovesDeadLettersBack() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxAttempts: 1))
        _ = try await queue.enqueue(batch: [queueBytes("a"), queueBytes("b")])
        for message in try await queue.receive(max: 2) { try await queue.nack(message) }
        #expect(queue.stats.deadLetters == 2)
        #expect(try await queue.redrive() == 2)
        #expect(queue.stats.deadLetters == 0 && queue.stats.depth == 2)
        let back = try await queue.receive(max: 2)
        #expect(back.map { queueText($0.payload) } == ["a", "b"])
        #expect(back.allSatisfy { $0.attempt == 1 && $0.deadLetter == nil })
        try await queue.close()
    }

    @Test func longPollIsWokenByEnqueue() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        let start = ContinuousClock.now
        async let received = queue.receive(max: 1, waitTimeout: .seconds(10))
        try await Task.sleep(for: .milliseconds(50))
        _ = try await queue.enqueue(queueBytes("wake"))
        let messages = try await received
        #expect(messages.count == 1 && queueText(messages[0].payload) == "wake")
        #expect(ContinuousClock.now - start < .seconds(5))
        try await queue.close()
    }

    @Test func longPollTimesOutEmpty() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        let start = ContinuousClock.now
        let messages = try await queue.receive(max: 1, waitTimeout: .milliseconds(100))
        let waited = ContinuousClock.now - start
        #expect(messages.isEmpty && waited >= .milliseconds(100) && waited < .seconds(3))
        try await queue.close()
    }

    @Test func longPollSeesExpiredLease() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        _ = try await queue.enqueue(queueBytes("x"))
        _ = try await queue.receive(visibilityTimeout: .milliseconds(60))
        let again = try await queue.receive(waitTimeout: .seconds(5))
        #expect(again.count == 1 && again[0].attempt == 2)
        try await queue.close()
    }

    @Test func closeWakesLongPollWithClosedError() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        let waiter = Task { try await queue.receive(waitTimeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(50))
        try await queue.close()
        await #expect(throws: StoreError.self) { try await waiter.value }
        await #expect(throws: StoreError.self) { try await queue.enqueue(queueBytes("late")) }
    }

    @Test func concurrentEnqueuersAllGetDistinctSequences() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        let sequences = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for index in 0..<64 { group.addTask { try await queue.enqueue(queueBytes("p\(index)")) } }
            return try await group.reduce(into: [UInt64]()) { $0.append($1) }
        }
        #expect(Set(sequences) == Set(1...64))
        #expect(queue.stats.depth == 64)
        try await queue.close()
    }

    @Test func syncModeNoneStillKeepsMessagesAcrossCleanReopen() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        var options = smallQueueOptions()
        options.sync = .none
        var queue = try DurableQueue.open(directory: dir.queue(), options: options)
        try await queue.enqueue(batch: (1...20).map { queueBytes("n\($0)") })
        try await queue.ack(try await queue.receive(max: 5))
        try await queue.close()
        queue = try DurableQueue.open(directory: dir.queue(), options: options)
        #expect(try await queue.receive(max: 100).map(\.sequence) == Array(6...20))
        try await queue.close()
    }

    @Test func oversizedPayloadIsRefused() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        var options = smallQueueOptions()
        options.maxPayloadBytes = 10
        let queue = try DurableQueue.open(directory: dir.queue(), options: options)
        await #expect(throws: StoreError.self) { try await queue.enqueue([UInt8](repeating: 1, count: 11)) }
        try await queue.close()
    }

    @Test func secondOpenOfSameDirectoryIsLocked() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        #expect(throws: StoreError.self) { try DurableQueue.open(directory: dir.queue()) }
        try await queue.close()
        let again = try DurableQueue.open(directory: dir.queue())
        try await again.close()
    }

    @Test func statsReportOldestUnackedAge() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        #expect(queue.stats.oldestUnackedAgeMicros == 0)
        _ = try await queue.enqueue(queueBytes("old"))
        try await Task.sleep(for: .milliseconds(20))
        #expect(queue.stats.oldestUnackedAgeMicros >= 15_000)
        try await queue.close()
    }
}
