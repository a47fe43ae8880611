import Testing
@testable import MsgStore

/// ``BackgroundScheduler``'s invariants: counts non-negative, at most one
/// job per running thread, the lock-free error flag matching the error.
@Suite struct BackgroundSchedulerInvariantTests {
    @Test func brokenCountsAreDetected() {
        #expect(BackgroundScheduler.invariantViolations(runningThreads: 2, runningJobs: 1, hasError: false, publishedError: false).isEmpty)
        #expect(!BackgroundScheduler.invariantViolations(runningThreads: 2, runningJobs: -1, hasError: false, publishedError: false).isEmpty)
        #expect(!BackgroundScheduler.invariantViolations(runningThreads: -1, runningJobs: 0, hasError: false, publishedError: false).isEmpty)
        #expect(!BackgroundScheduler.invariantViolations(runningThreads: 1, runningJobs: 2, hasError: false, publishedError: false).isEmpty)
        #expect(!BackgroundScheduler.invariantViolations(runningThreads: 2, runningJobs: 0, hasError: true, publishedError: false).isEmpty)
    }

    @Test func jobsKeepTheInvariants() throws {
        let directory = TestDirectory()
        let store = try TestSchema.open(directory, options: ManifestTests.smallOptions)
        let kv = try store.table("kv")
        for i in 0..<300 {
            var batch = WriteBatch()
            batch.put(kv, RowKey(partitionKey: [UInt8(i % 4)], sortKey: [UInt8(i / 256), UInt8(i % 256)]),
                      value: [UInt8](repeating: 3, count: 50))
            try store.write(batch)
        }
        try store.settle()
        let engine = store.engine
        engine.versions.lock.withLock { held in engine.scheduler.checkInvariants(held) }
        #expect(store.waitForBackgroundIdle())
        #expect(engine.scheduler.failure == nil)
        #expect(engine.scheduler.transientFailure == nil)
        try store.close()
    }
}
