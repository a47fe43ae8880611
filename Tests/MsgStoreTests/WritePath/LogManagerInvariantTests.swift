import Testing
@testable import MsgStore

/// ``LogManager``'s invariants: live segments ascending, the current one
/// last, the lock-free facts matching the list.
@Suite struct LogManagerInvariantTests {
    @Test func aWellFormedListHasNoViolations() {
        #expect(LogManager.invariantViolations(live: [3, 5, 8], current: 8, liveCount: 3, oldestLive: 3, nextFileNumber: 9).isEmpty)
    }

    @Test func brokenListsAreDetected() {
        let unsorted = LogManager.invariantViolations(live: [5, 3, 8], current: 8, liveCount: 3, oldestLive: 5, nextFileNumber: 9)
        #expect(unsorted.contains { $0.contains("not strictly ascending") })
        let currentNotLast = LogManager.invariantViolations(live: [3, 5], current: 8, liveCount: 2, oldestLive: 3, nextFileNumber: 9)
        #expect(currentNotLast.contains { $0.contains("not the last live one") })
        let stale = LogManager.invariantViolations(live: [5, 8], current: 8, liveCount: 3, oldestLive: 3, nextFileNumber: 9)
        #expect(stale.contains { $0.contains("do not match") })
        let numberReused = LogManager.invariantViolations(live: [8], current: 8, liveCount: 1, oldestLive: 8, nextFileNumber: 8)
        #expect(numberReused.contains { $0.contains("not below the next file number") })
    }

    @Test func rollsAndRemovalsKeepTheInvariants() throws {
        let directory = TestDirectory()
        var options = ManifestTests.smallOptions
        options.walSegmentBytes = 4 << 10  // roll often
        let store = try TestSchema.open(directory, options: options)
        let kv = try store.table("kv")
        for i in 0..<400 {
            var batch = WriteBatch()
            batch.put(kv, RowKey(partitionKey: [UInt8(i % 3)], sortKey: [UInt8(i / 256), UInt8(i % 256)]),
                      value: [UInt8](repeating: 1, count: 60))
            try store.write(batch)
            if i % 50 == 0 { store.engine.log.checkInvariants() }
        }
        try store.settle()
        store.engine.log.checkInvariants()
        #expect(store.engine.log.liveSegmentCount == store.statistics.liveLogSegments)
        #expect(store.engine.log.oldestLiveSegment <= store.engine.log.currentNumber)
        try store.close()
    }
}
