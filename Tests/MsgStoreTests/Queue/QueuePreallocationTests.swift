import Foundation
import Testing
@testable import MsgStore

/// `QueueOptions.preallocateSegments`: the active segment is zero-filled to
/// `maxSegmentBytes`, closed segments are cut back to their records, and a
/// zero-filled tail left by a crash ends the data without counting as a tear.
@Suite struct QueuePreallocationTests {
    func options() -> QueueOptions {
        var options = smallQueueOptions(maxSegmentBytes: 64 << 10)
        options.preallocateSegments = true
        return options
    }

    func segmentSizes(_ directory: String) throws -> [Int64] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".qlog") }.sorted().map {
            (try FileManager.default.attributesOfItem(atPath: directory + "/" + $0)[.size] as? NSNumber)?.int64Value ?? -1
        }
    }

    @Test func activeSegmentIsPreallocatedAndClosedOnesAreCutBack() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        let queue = try DurableQueue.open(directory: dir.queue(), options: options())
        #expect(try segmentSizes(dir.queue()) == [64 << 10], "zero-filled when created")
        for index in 0..<300 { try await queue.enqueue(queueBytes(String(repeating: "x", count: 400) + "\(index)")) }
        let sizes = try segmentSizes(dir.queue())
        #expect(sizes.count >= 2 && sizes.last == 64 << 10)
        #expect(sizes.dropLast().allSatisfy { $0 >= 64 << 10 && $0 < (64 << 10) + 1024 }, "closed segments hold records only: \(sizes)")
        // A copy taken now is what a crash leaves: the active segment ends in zeros.
        let copy = TestDirectory("copy"); defer { copy.cleanUp() }
        try FileManager.default.removeItem(atPath: copy.path)
        try FileManager.default.copyItem(atPath: dir.path, toPath: copy.path)
        try await queue.close()
        #expect(try segmentSizes(dir.queue()).last! < 64 << 10, "cut back on close")

        #expect(verifyQueue(path: copy.queue()).isOK, "a zero-filled tail is not a problem")
        let recovered = try DurableQueue.open(directory: copy.queue(), options: options())
        #expect(recovered.recoveryReport.tornTails.isEmpty, "\(recovered.recoveryReport.tornTails)")
        var payloads: [String] = []
        while true {
            let batch = try await recovered.receive(max: 100)
            if batch.isEmpty { break }
            payloads += batch.map { queueText($0.payload) }
            try await recovered.ack(batch)
        }
        #expect(payloads.count == 300 && payloads.last?.hasSuffix("299") == true)
        // Appends go on after the recovered records (not after the zeros), in a preallocated segment.
        try await recovered.enqueue(queueBytes("after"))
        #expect(try segmentSizes(copy.queue()).last == 64 << 10)
        try await recovered.close()
        let again = try DurableQueue.open(directory: copy.queue(), options: options())
        #expect(try await again.receive(max: 10).map { queueText($0.payload) } == ["after"])
        try await again.close()
    }

    @Test func withoutSyncNothingIsPreallocated() async throws {
        let dir = TestDirectory(); defer { dir.cleanUp() }
        var unsynced = options()
        unsynced.sync = .none
        let queue = try DurableQueue.open(directory: dir.queue(), options: unsynced)
        try await queue.enqueue(queueBytes("a"))
        #expect(try segmentSizes(dir.queue()).allSatisfy { $0 < 1024 })
        try await queue.close()
    }
}
