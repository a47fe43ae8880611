#if canImport(Glibc)
import Glibc
#endif
@testable import MsgStore

extension Store {
    /// Waits until no flush or compaction is running or due (or the background
    /// work failed, or `seconds` passed). Tests that call it after every write
    /// make the interleaving of the commit path and the background threads —
    /// and so the sequence of file system operations — a function of the
    /// seed alone, so that a failing seed replays exactly.
    ///
    /// Reads engine internals (read-only); "due" mirrors `compactionDue()`.
    @discardableResult
    func waitForBackgroundIdle(seconds: Double = 20) -> Bool {
        let engine = self.engine
        let deadline = CommitClock.monotonicMicroseconds() + Int64(seconds * 1_000_000)
        return engine.versionLock.withLock {
            while true {
                if engine.backgroundError != nil || engine.stopping { return true }
                let flushPending = engine.partitions.contains { $0.oldestImmutable != nil }
                let compactionDue = engine.partitions.contains { partition in
                    let version = partition.version
                    if version.levels[0].count >= engine.options.level0CompactionTrigger { return true }
                    return (1..<(levelCount - 1)).contains { version.bytes(level: $0) >= engine.options.targetBytes(level: $0) }
                }
                if engine.runningJobs == 0 && !flushPending && !compactionDue { return true }
                if CommitClock.monotonicMicroseconds() > deadline { return false }
                if engine.runningJobs > 0 {
                    engine.progressWakeup.wait()  // finishJob broadcasts it
                } else {
                    engine.versionLock.wait(seconds: 0.0005)  // a job is due: the thread is about to take it
                }
            }
        }
    }
}
