import Foundation
import Testing
@testable import MsgStore

/// `extendLease` (a long consumer keeps its message), `deadLetter` (a
/// permanent failure parks a message now), and the counters they feed
/// (`syncs`, `deadLetteredTotal`).
@Suite struct QueueLeaseExtensionTests {
    @Test func extendedLeaseKeepsTheMessageFromOtherReceivers() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        try await queue.enqueue(queueBytes("long work"))
        var held = try #require(try await queue.receive(max: 1, visibilityTimeout: .milliseconds(60)).first)
        // Extended every 20 ms for 200 ms: more than three times the original lease.
        for _ in 0..<10 {
            try await Task.sleep(for: .milliseconds(20))
            held = try queue.extendLease(held, by: .milliseconds(60))
            #expect(try await queue.receive(max: 1, visibilityTimeout: .seconds(5)).isEmpty, "still leased")
        }
        #expect(held.attempt == 1, "extending is not a delivery")
        #expect(queue.stats.inFlight == 1)
        try await queue.ack(held)
        #expect(queue.stats.depth == 0)
        try await queue.close()
    }

    @Test func staleLeaseCannotBeExtendedAndAnExpiredOneIsReceivedAgain() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions(maxAttempts: 10))
        try await queue.enqueue(queueBytes("m"))
        let first = try #require(try await queue.receive(max: 1, visibilityTimeout: .milliseconds(30)).first)
        let renewed = try queue.extendLease(first, by: .milliseconds(30))
        // The lease before the renewal is stale: it can neither ack nor extend.
        #expect(throws: StoreError.self) { _ = try queue.extendLease(first, by: .seconds(1)) }
        await #expect(throws: StoreError.self) { try await queue.ack(first) }
        // A long poll is woken by the renewed deadline passing.
        let again = try #require(try await queue.receive(max: 1, visibilityTimeout: .seconds(5), waitTimeout: .seconds(5)).first)
        #expect(again.attempt == 2)
        let error = #expect(throws: StoreError.self) { _ = try queue.extendLease(renewed, by: .seconds(1)) }
        #expect(error?.code == .leaseNotHeld)
        try await queue.ack(again)
        try await queue.close()
    }

    @Test func deadLetterParksAMessageNowAndRedriveBringsItBack() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        var options = smallQueueOptions()
        options.maxAttempts = .max
        let queue = try DurableQueue.open(directory: dir.queue(), options: options)
        try await queue.enqueue(batch: [queueBytes("poison"), queueBytes("fine")])
        let poison = try #require(try await queue.receive(max: 1).first)
        try await queue.deadLetter(poison, reason: String(repeating: "é", count: 800))
        try await queue.deadLetter(poison, reason: "again")  // already gone: nothing
        let stats = queue.stats
        #expect(stats.depth == 1 && stats.inFlight == 0 && stats.deadLetters == 1 && stats.deadLetteredTotal == 1)
        let letter = try #require(try await queue.deadLetterQueue?.receive(max: 1).first)
        #expect(queueText(letter.payload) == "poison")
        #expect(letter.deadLetter?.originalSequence == poison.sequence)
        #expect((letter.deadLetter?.reason.utf8.count ?? 0) <= 1000 && letter.deadLetter?.reason.hasPrefix("éé") == true)
        try await queue.deadLetterQueue?.nack(letter)
        // A lease that is not current is refused.
        let fine = try #require(try await queue.receive(max: 1, visibilityTimeout: .zero).first)
        _ = try await queue.receive(max: 1, visibilityTimeout: .seconds(5))
        let refused = await #expect(throws: StoreError.self) { try await queue.deadLetter(fine, reason: "stale") }
        #expect(refused?.code == .leaseNotHeld)
        #expect(try await queue.redrive() == 1)
        #expect(queue.stats.deadLetters == 0 && queue.stats.depth == 2)
        try await queue.close()
        // Reopened: the parked-and-redriven message is queued, with its attempts reset.
        let reopened = try DurableQueue.open(directory: dir.queue(), options: options)
        let messages = try await reopened.receive(max: 10)
        #expect(Set(messages.map { queueText($0.payload) }) == ["poison", "fine"])
        try await reopened.close()
    }

    @Test func syncsCountOneFdatasyncPerGroupCommit() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        #expect(queue.stats.syncs == 0)
        try await queue.enqueue(queueBytes("a"))
        #expect(queue.stats.syncs == 1)
        try await queue.enqueue(batch: [queueBytes("b"), queueBytes("c")])
        #expect(queue.stats.syncs == 2, "one batch, one fdatasync")
        let messages = try await queue.receive(max: 10)
        #expect(queue.stats.syncs == 2, "receiving syncs nothing")
        try await queue.ack(Array(messages.prefix(2)))
        #expect(queue.stats.syncs == 3, "one ack delta, one fdatasync")
        try await queue.ack(messages[2], sync: false)
        #expect(queue.stats.syncs == 3, "an unsynced ack is written, not fdatasync'ed")
        try await queue.close()
        // Written: a reopen (as after a process crash) does not deliver it again.
        let reopened = try DurableQueue.open(directory: dir.queue(), options: smallQueueOptions())
        #expect(try await reopened.receive(max: 10).isEmpty)
        try await reopened.close()
        var unsynced = smallQueueOptions()
        unsynced.sync = .none
        let other = try DurableQueue.open(directory: dir.queue("none"), options: unsynced)
        try await other.enqueue(queueBytes("x"))
        #expect(other.stats.syncs == 0)
        try await other.close()
    }
}
