import Foundation
import Synchronization
import Testing
@testable import MsgStore

/// Jobs without an `fdatasync` run in place on the caller's thread when the
/// queue's thread is idle (``QueueWorkerMailbox/runInPlaceIfIdle(_:_:)``);
/// the worker and in-place callers never process at the same time.
@Suite struct QueueInPlaceTests {
    @Test func unsyncedJobsOnAnIdleQueueRunInPlaceAndSyncedOnesDoNot() async throws {
        let dir = TestDirectory("inplace"); defer { dir.cleanUp() }
        var options = smallQueueOptions(maxAttempts: 10, maxSegmentBytes: 1 << 20)
        options.sync = .none
        let queue = try DurableQueue.open(directory: dir.queue(), options: options)
        for index in 0..<20 { try await queue.enqueue(queueBytes("m\(index)")) }
        #expect(queue.stats.inPlaceJobs == 20)
        let received = try await queue.receive(max: 20)
        #expect(received.count == 20)
        try await queue.ack(received, sync: false)
        // 20 enqueues, the deliveries record of the receive, the ack.
        #expect(queue.stats.inPlaceJobs == 22)
        try await queue.close()

        options.sync = .always
        let synced = try DurableQueue.open(directory: dir.queue(), options: options)
        try await synced.enqueue(queueBytes("durable"))
        let message = try #require(try await synced.receive().first)
        try await synced.ack(message)  // synced: on the queue's thread
        // At most the deliveries record (in place only if the worker was already back
        // waiting after the enqueue): the enqueue and the synced ack went to the worker.
        #expect(synced.stats.inPlaceJobs <= 1)
        #expect(synced.stats.syncs >= 2)
        try await synced.close()
    }

    /// A job that could start a segment roll (which syncs) is not run in
    /// place: it goes to the queue's thread.
    @Test func jobsNearASegmentRollGoToTheQueueThread() async throws {
        let dir = TestDirectory("inplace-roll"); defer { dir.cleanUp() }
        var options = smallQueueOptions(maxAttempts: 10, maxSegmentBytes: 4096)
        options.sync = .none
        let queue = try DurableQueue.open(directory: dir.queue(), options: options)
        let payload = [UInt8](repeating: 7, count: 200)
        for _ in 0..<100 { try await queue.enqueue(payload) }  // about 20 KiB: several rolls
        let stats = queue.stats
        #expect(stats.segments >= 4)
        #expect(stats.inPlaceJobs > 0)
        #expect(stats.inPlaceJobs < 100)  // those near a roll went to the queue's thread
        try await queue.close()
        let reopened = try DurableQueue.open(directory: dir.queue(), options: options)
        #expect(reopened.stats.depth == 100)
        try await reopened.close()
    }

    @Test func concurrentProducersAndConsumersSeeEveryMessageOnceWhileJobsAlternateBetweenThreads() async throws {
        let dir = TestDirectory("inplace-concurrent"); defer { dir.cleanUp() }
        var options = smallQueueOptions(maxAttempts: 1_000, maxSegmentBytes: 4096)  // many segment rolls
        options.sync = .none
        let queue = try DurableQueue.open(directory: dir.queue(), options: options)
        let producers = 6, perProducer = 150
        let seen = Tally()
        let produced = Tally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    for index in 0..<perProducer {
                        // Every 10th enqueue in a batch of two, some synced acks below: both paths mix.
                        if index % 10 == 0 {
                            try await queue.enqueue(batch: [queueBytes("p\(producer)-\(index)"), queueBytes("p\(producer)-\(index)b")])
                            produced.add("total", 2)
                        } else {
                            try await queue.enqueue(queueBytes("p\(producer)-\(index)"))
                            produced.add("total", 1)
                        }
                    }
                }
            }
            for consumer in 0..<2 {
                group.addTask {
                    var idle = 0
                    while idle < 50 {
                        let messages = try await queue.receive(max: 5, visibilityTimeout: .seconds(600), waitTimeout: .milliseconds(20))
                        if messages.isEmpty {
                            idle += 1
                            continue
                        }
                        idle = 0
                        for message in messages { seen.add(queueText(message.payload), 1) }
                        try await queue.ack(messages, sync: consumer == 0)
                    }
                }
            }
            try await group.waitForAll()
        }
        let total = produced.counts["total"] ?? 0
        let counts = seen.counts
        #expect(counts.count == total)
        #expect(counts.values.allSatisfy { $0 == 1 })
        #expect(queue.stats.depth == 0)
        #expect(queue.stats.inPlaceJobs > 0)
        try await queue.close()
        let reopened = try DurableQueue.open(directory: dir.queue(), options: options)
        #expect(reopened.stats.depth == 0)  // every ack reached the file
        try await reopened.close()
        #expect(verifyQueue(path: dir.queue()).isOK)
    }
}

/// Counts by name, from many tasks.
private final class Tally: Sendable {
    private let state = Mutex<[String: Int]>([:])
    func add(_ name: String, _ count: Int) { state.withLock { $0[name, default: 0] += count } }
    var counts: [String: Int] { state.withLock { $0 } }
}
