import Synchronization

/// Runs the background jobs (``BackgroundJobs``) on two OS threads of the
/// engine's own — one flushing immutable memtables, one compacting — and
/// keeps their status: running counts, stopping, settling, the retry
/// backoffs of failed jobs, and the background error that makes the store
/// read-only.
///
/// The status is guarded by the ``VersionLock`` (shared with
/// ``VersionSet``: a job picks its work and publishes its result and outcome
/// in critical sections of that one lock). Methods that need it held take
/// its ``VersionLock/Held``; public entry points take it themselves.
/// `hasBackgroundError` mirrors `backgroundError != nil` for lock-free reads.
///
/// Invariants (``invariantViolations(runningThreads:runningJobs:hasError:publishedError:)``,
/// checked after every job in debug builds): counts are non-negative, at
/// most one job per running thread, and the lock-free flag matches the error.
final class BackgroundScheduler: @unchecked Sendable {
    private let lock: VersionLock
    private let jobs: BackgroundJobs

    // Guarded by `lock`:
    private var stopping = false
    /// `settle()` is waiting: L0 files are compacted whatever their count.
    private var settling = false
    private var runningThreads = 0
    private var runningJobs = 0
    /// Flushes and compactions that failed before anything relied on their
    /// output (writing an SSTable): retried with backoff.
    private var flushRetry = RetryBackoff()
    private var compactionRetry = RetryBackoff()
    /// A failure that made the store read-only (a failed manifest write).
    private var backgroundError: StoreError? {
        didSet { hasBackgroundError.store(backgroundError != nil, ordering: .releasing) }
    }
    /// Told of the background error, once (the commit pipeline: it refuses later writes).
    private var onFailure: (@Sendable (StoreError) -> Void)?

    /// `backgroundError != nil`, readable without the lock.
    private let hasBackgroundError = Atomic<Bool>(false)

    /// A scheduler of `jobs` whose status `lock` guards. No thread runs before ``start(onFailure:)``.
    init(lock: VersionLock, jobs: BackgroundJobs) {
        self.lock = lock
        self.jobs = jobs
    }

    // MARK: Threads

    /// Starts the flush and the compaction thread. `onFailure` is told of a
    /// background error (once), to stop accepting writes.
    func start(onFailure: @escaping @Sendable (StoreError) -> Void) {
        lock.withLock { _ in
            self.onFailure = onFailure
            runningThreads = 2
        }
        startThread(name: "msgstore-flush") { [self] in loop(flushing: true) }
        startThread(name: "msgstore-compact") { [self] in loop(flushing: false) }
    }

    /// Stops both threads. A running flush or compaction abandons its work
    /// at its next check, within a few blocks (see "Stopping" at
    /// ``BackgroundJobs``): `close` does not wait for a long compaction.
    func stop() {
        jobs.requestStop()
        lock.withLock { held in
            stopping = true
            lock.backgroundWakeup.broadcast()
            lock.progressWakeup.broadcast()
            while runningThreads > 0 { lock.wait(lock.progressWakeup, held) }
            onFailure = nil
        }
    }

    /// Wakes the threads (work may be due).
    func wakeUp() {
        lock.withLock { _ in lock.backgroundWakeup.broadcast() }
    }

    private func loop(flushing: Bool) {
        lock.withLock { held in
            while !stopping {
                if backgroundError != nil {
                    lock.wait(lock.backgroundWakeup, held)
                    continue
                }
                let retryAt = flushing ? flushRetry.notBefore : compactionRetry.notBefore
                let now = CommitClock.monotonicMicroseconds()
                if retryAt > now {
                    lock.wait(lock.backgroundWakeup, seconds: Double(retryAt - now) / 1e6, held)
                    continue
                }
                if flushing, let (partition, memtable) = jobs.nextFlush() {
                    runningJobs += 1
                    let result = lock.unlocked(held) { Result { try jobs.flush(memtable, of: partition) } }
                    finishJob(result, flushing: true, held)
                } else if !flushing, let job = jobs.pickCompaction(settling: settling, held) {
                    runningJobs += 1
                    let result = lock.unlocked(held) {
                        let result = Result { try jobs.compact(job) }
                        job.partition.endCompaction()
                        return result
                    }
                    finishJob(result, flushing: false, held)
                } else {
                    lock.wait(lock.backgroundWakeup, held)
                }
            }
            runningThreads -= 1
            lock.progressWakeup.broadcast()
        }
    }

    private func finishJob(_ result: Result<Void, any Error>, flushing: Bool, _ held: borrowing VersionLock.Held) {
        runningJobs -= 1
        switch result {
        case .success:
            if flushing { flushRetry.succeeded() } else { compactionRetry.succeeded() }
        case .failure(is BackgroundJobs.Cancelled):
            break  // stopping: nothing was changed, nothing is to be retried
        case .failure(let failure as BackgroundJobs.TransientFailure):
            if flushing { flushRetry.failed(failure.error) } else { compactionRetry.failed(failure.error) }
        case .failure(let error):
            if backgroundError == nil {
                let error = error as? StoreError ?? StoreError(.io, "background work failed: \(error)")
                backgroundError = error
                onFailure?(error)
            }
        }
        lock.backgroundWakeup.broadcast()
        lock.progressWakeup.broadcast()
        #if DEBUG
        checkInvariants(held)
        #endif
    }

    // MARK: Waiting for the jobs

    /// Blocks while `condition` holds (writers over the memory budget),
    /// waking the threads meanwhile — or until the scheduler stops (`close`:
    /// the writers go on, over the budget, rather than wait for work that
    /// will not run). Throws `.unavailable` while a job keeps
    /// failing (a full disk: waiting could take forever), and the background
    /// error if there is one.
    func waitForBackgroundWork(while condition: () -> Bool) throws {
        try lock.withLock { held in
            while condition() && backgroundError == nil && !stopping {
                if let transient = flushRetry.lastError ?? compactionRetry.lastError {
                    throw StoreError(.unavailable, "writes wait for background work that keeps failing: \(transient)",
                                     file: transient.file, errno: transient.errno)
                }
                lock.backgroundWakeup.broadcast()
                lock.wait(lock.progressWakeup, seconds: 0.1, held)
            }
            if let backgroundError { throw backgroundError }
        }
    }

    /// Throws the background error, if any (one atomic load when there is none).
    @inline(__always)
    func throwIfFailed() throws {
        if hasBackgroundError.load(ordering: .acquiring), let error = failure { throw error }
    }

    /// The error that made the store read-only, if any.
    var failure: StoreError? { lock.withLock { _ in backgroundError } }

    /// The last failure of a flush or compaction being retried, if any.
    var transientFailure: StoreError? { lock.withLock { _ in flushRetry.lastError ?? compactionRetry.lastError } }

    /// Compacts every L0 file (the L0 trigger drops to 1) and waits until no
    /// flush or compaction is running or due.
    func settle() throws {
        try lock.withLock { held in
            settling = true
            defer { settling = false }
            lock.backgroundWakeup.broadcast()
            while backgroundError == nil && !stopping
                    && (runningJobs > 0 || jobs.flushPending() || jobs.compactionDue(settling: settling, held)) {
                try throwIfJobsKeepFailing(held)
                lock.wait(lock.progressWakeup, seconds: 0.1, held)
            }
            if let backgroundError { throw backgroundError }
        }
    }

    /// Waits until every immutable memtable is flushed (compactions they
    /// make due run on their own).
    func waitForFlushes() throws {
        try lock.withLock { held in
            lock.backgroundWakeup.broadcast()
            while backgroundError == nil && !stopping && jobs.flushPending() {
                try throwIfJobsKeepFailing(held)
                lock.wait(lock.progressWakeup, seconds: 0.1, held)
            }
            if let backgroundError { throw backgroundError }
        }
    }

    /// Throws `.unavailable` while a flush or compaction is being retried
    /// after a failure (a full disk): waiting for it could take forever.
    private func throwIfJobsKeepFailing(_ held: borrowing VersionLock.Held) throws {
        guard let failure = flushRetry.lastError ?? compactionRetry.lastError else { return }
        throw StoreError(.unavailable, "background work keeps failing: \(failure)", file: failure.file, errno: failure.errno)
    }

    // MARK: For tests

    /// Waits until no flush or compaction is running or due, the background
    /// work failed, or the scheduler stops; false if `deadline` (monotonic
    /// microseconds) passed first. Test support: tests that call it after
    /// every write make the interleaving of the commit path and the
    /// background threads a function of their seed alone.
    func waitUntilIdle(deadline: Int64) -> Bool {
        lock.withLock { held in
            while true {
                if backgroundError != nil || stopping { return true }
                if runningJobs == 0 && !jobs.flushPending() && !jobs.compactionDue(settling: settling, held) { return true }
                if CommitClock.monotonicMicroseconds() > deadline { return false }
                if runningJobs > 0 {
                    lock.wait(lock.progressWakeup, held)  // finishJob broadcasts it
                } else {
                    lock.pause(seconds: 0.0005, held)  // a job is due: the thread is about to take it
                }
            }
        }
    }

    /// Whether a flush about to start should wait, so that the flush and
    /// compaction threads take turns (test support): while a compaction runs
    /// or is due, and — when `settleRequested` — until ``settle()`` switched
    /// to settling.
    func flushShouldWaitForCompactions(settleRequested: Bool) -> Bool {
        lock.withLock { held in
            if backgroundError != nil || stopping { return false }
            if settleRequested && !settling { return true }
            return runningJobs > 1 || jobs.compactionDue(settling: settling, held)
        }
    }

    // MARK: Invariants

    /// Checks the invariants (see the type's documentation); a violation
    /// stops the process.
    func checkInvariants(_ held: borrowing VersionLock.Held) {
        let violations = Self.invariantViolations(
            runningThreads: runningThreads, runningJobs: runningJobs,
            hasError: hasBackgroundError.load(ordering: .relaxed), publishedError: backgroundError != nil)
        precondition(violations.isEmpty, "BackgroundScheduler invariants violated: \(violations.joined(separator: "; "))")
    }

    /// The invariants broken by these counts and error flags.
    static func invariantViolations(runningThreads: Int, runningJobs: Int, hasError: Bool, publishedError: Bool) -> [String] {
        var violations: [String] = []
        if runningThreads < 0 || runningThreads > 2 { violations.append("\(runningThreads) running threads (0...2)") }
        if runningJobs < 0 { violations.append("\(runningJobs) running jobs") }
        if runningJobs > max(runningThreads, 0) {
            violations.append("\(runningJobs) running jobs on \(runningThreads) threads")
        }
        if hasError != publishedError { violations.append("the lock-free error flag (\(hasError)) differs from the error (\(publishedError))") }
        return violations
    }
}
