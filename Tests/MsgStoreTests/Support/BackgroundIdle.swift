#if canImport(Glibc)
import Glibc
#endif
import Synchronization
@testable import MsgStore

extension Store {
    /// Waits until no flush or compaction is running or due (or the background
    /// work failed, or `seconds` passed). Tests that call it after every write
    /// make the interleaving of the commit path and the background threads —
    /// and so the sequence of file system operations — a function of the
    /// seed alone, so that a failing seed replays exactly.
    ///
    /// Asks the engine's ``BackgroundScheduler`` (its test entry point).
    @discardableResult
    func waitForBackgroundIdle(seconds: Double = 20) -> Bool {
        engine.scheduler.waitUntilIdle(deadline: CommitClock.monotonicMicroseconds() + Int64(seconds * 1_000_000))
    }

    /// Whether a flush about to start should wait, so that the flush and
    /// compaction threads take turns: while a compaction runs or is due (the
    /// compaction thread takes it first), and — during `settle` — until the
    /// engine has switched to settling. With it, which compaction is picked
    /// never depends on how far a concurrent flush got.
    func flushShouldWaitForCompactions(settleRequested: Bool) -> Bool {
        engine.scheduler.flushShouldWaitForCompactions(settleRequested: settleRequested)
    }
}

/// Makes the engine's flush and compaction threads take turns on a
/// ``PowerLossFileSystem`` (see ``Store/flushShouldWaitForCompactions(settleRequested:)``).
/// A flush job is recognized by its first operation — creating an SSTable —
/// when the same thread's previous operation was not a read of an SSTable
/// (a compaction reads its inputs before it creates its outputs; so the
/// block cache must be off, or a compaction of cached blocks would look like
/// a flush and wait — at most the hold's time-out — for itself).
/// (The engine's threads are not named, so the file system cannot tell them apart otherwise.)
final class BackgroundTurns: Sendable {
    /// The store open on the file system now.
    let store = Mutex<Store?>(nil)
    /// Set around `settle()`.
    let settleRequested = Atomic<Bool>(false)

    init(_ fileSystem: PowerLossFileSystem) {
        fileSystem.hold { [self] context in
            guard context.operation == .create, context.path.hasSuffix(".sst") else { return false }
            if context.previousOperation == .read, context.previousPath?.hasSuffix(".sst") == true { return false }
            guard let store = store.withLock({ $0 }) else { return false }
            return store.flushShouldWaitForCompactions(settleRequested: settleRequested.load(ordering: .relaxed))
        }
    }
}
