import Foundation
import Testing
@testable import MsgStore

/// A seeded random sequence of operations checked against a simple model
/// (visible set, leased set) — including reopen, which makes every lease visible again.
@Suite struct QueueModelTests {
    /// With ``SyncMode/none`` most jobs run in place on the caller's thread
    /// (the queue's thread is idle): the same model holds.
    @Test(arguments: [SyncMode.always, .none])
    func randomOperationsMatchTheModel(sync: SyncMode) async throws {
        let seed = testSeed()
        var random = SeededGenerator(seed: seed)
        let dir = TestDirectory("model"); defer { dir.cleanUp() }
        var options = smallQueueOptions(maxAttempts: 1_000, maxSegmentBytes: 2048)
        options.sync = sync
        var queue = try DurableQueue.open(directory: dir.queue(), options: options)
        var payloads: [UInt64: [UInt8]] = [:]   // every unacked message
        var visible = Set<UInt64>()
        var leased: [UInt64: QueueMessage] = [:]
        for step in 0..<400 {
            switch random.next() % 10 {
            case 0...2:
                let count = Int(1 + random.next() % 4)
                let batch = (0..<count).map { _ in queueBytes("s\(step)-" + String(repeating: "z", count: Int(random.next() % 300))) }
                let sequences = try await queue.enqueue(batch: batch)
                for (sequence, payload) in zip(sequences, batch) { payloads[sequence] = payload; visible.insert(sequence) }
            case 3...4:
                let max = Int(1 + random.next() % 5)
                let got = try await queue.receive(max: max, visibilityTimeout: .seconds(600))
                let expected = Array(visible.sorted().prefix(max))
                #expect(got.map(\.sequence) == expected, "step \(step) seed \(seed)")
                for message in got {
                    #expect(message.payload == payloads[message.sequence], "step \(step) seed \(seed)")
                    visible.remove(message.sequence)
                    leased[message.sequence] = message
                }
            case 5...6:
                if let sequence = leased.keys.sorted().randomElement(using: &random) {
                    try await queue.ack(leased.removeValue(forKey: sequence)!, sync: random.next() % 2 == 0)
                    payloads[sequence] = nil
                }
            case 7:
                if let sequence = leased.keys.sorted().randomElement(using: &random) {
                    try await queue.nack(leased.removeValue(forKey: sequence)!)
                    visible.insert(sequence)
                }
            case 8:
                try await queue.close()
                queue = try DurableQueue.open(directory: dir.queue(), options: options)
                for sequence in leased.keys { visible.insert(sequence) }
                leased.removeAll()
            default:
                let stats = queue.stats
                #expect(stats.depth == payloads.count && stats.inFlight == leased.count, "step \(step) seed \(seed)")
            }
        }
        try await queue.close()
        let inspection = try QueueInspection.inspect(path: dir.queue())
        #expect(inspection.depth == payloads.count)
        #expect(verifyQueue(path: dir.queue()).isOK)
    }
}
