/// The engine's version lock, and the one place that says what it guards:
///
/// - ``VersionSet``: the manifest, the version state folded from its edits,
///   and the compaction pointers;
/// - ``BackgroundScheduler``: its status — stopping, settling, running
///   thread and job counts, the flush and compaction retry backoffs, and the
///   background error that makes the store read-only.
///
/// The two parts share one lock because their state changes together: a
/// background job picks its work from the version state and publishes both
/// its result (a manifest edit) and its outcome (job count, backoff,
/// background error) while holding it, and the threads that wait —
/// writers stalled on memory, `settle`, `flush` — wait for a condition over
/// both (``progressWakeup``).
///
/// Every method of those parts that needs the lock takes a ``Held``: a
/// noncopyable proof that only ``withLock(_:)`` hands out, for the extent of
/// the critical section. "REQUIRES: versionLock held" is so checked by the
/// compiler, not stated in a comment.
///
/// ## Lock order (the whole engine)
///
/// 1. `CommitPipeline`'s lock is never held while the pipeline calls out
///    (the leader runs its group without it, so the memtable set may take
///    the version lock to wait or wake the threads).
/// 2. ``VersionLock`` comes next. While holding it, the engine may take a
///    ``Partition``'s lock, the ``LogManager``'s segment lock, and the
///    pipeline's lock (a background error fails the pipeline:
///    `CommitPipeline.fail(_:)`) — never the reverse.
/// 3. A partition's lock, the log manager's segment lock, the pipeline's
///    lock (when taken under the version lock), the block cache's and the
///    row cache's locks are leaves: nothing is taken while they are held —
///    but for the ``TableFileCache``'s locks (a ``TableFile``'s transition
///    lock, then the cache's lock), which may be taken under any engine lock
///    (an SSTable whose last holder lets go closes its descriptor) and take
///    no other engine lock themselves.
/// 4. ``StoreLifecycle``'s queue registry lock is held only while a queue
///    opens (the queue's own locks), never with any engine lock.
final class VersionLock: @unchecked Sendable {
    /// Proof that the version lock is held. Noncopyable: it exists only as
    /// the borrowed argument of a ``VersionLock/withLock(_:)`` body.
    struct Held: ~Copyable {
        fileprivate init() {}
    }

    private let lock = ConditionLock()
    /// Wakes the flush and compaction threads.
    let backgroundWakeup: LockCondition
    /// Wakes writers stalled on memory or L0, `settle`, `flush`, and `close`.
    let progressWakeup: LockCondition

    init() {
        backgroundWakeup = LockCondition(lock)
        progressWakeup = LockCondition(lock)
    }

    /// Runs `body` with the lock held, giving it the proof.
    @inline(__always)
    func withLock<T>(_ body: (borrowing Held) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(Held())
    }

    /// Runs `body` with the lock released, then takes it again (a
    /// background job runs between picking its work and publishing it).
    @inline(__always)
    func unlocked<T>(_ held: borrowing Held, _ body: () throws -> T) rethrows -> T {
        lock.unlock()
        defer { lock.lock() }
        return try body()
    }

    /// Waits on `condition` (one of this lock's), releasing the lock meanwhile.
    func wait(_ condition: LockCondition, _ held: borrowing Held) { condition.wait() }

    /// Waits on `condition` at most `seconds`; false on time-out.
    @discardableResult
    func wait(_ condition: LockCondition, seconds: Double, _ held: borrowing Held) -> Bool {
        condition.wait(seconds: seconds)
    }

    /// Releases the lock for at most `seconds` (a wait nobody signals).
    func pause(seconds: Double, _ held: borrowing Held) { lock.wait(seconds: seconds) }
}
