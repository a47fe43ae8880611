import Synchronization

/// The write-ahead log's segments: the open segment the commit leader
/// appends to, rolling to a new segment (retried with backoff when it cannot
/// be created), and the live segments — those that may still hold batches
/// not yet in SSTables.
///
/// Who touches what:
/// - the open ``WriteAheadLog`` and `rollRetry`: the commit leader only (or
///   the holder of exclusive leadership; ``close()`` once the pipeline stopped);
/// - the live segment list: under `segments`, a leaf lock (it may be taken
///   while the ``VersionLock`` is held, never the reverse);
/// - `currentNumber`, `liveCount`, `oldestLive`: atomics, stored under
///   `segments` whenever the list changes, read by the leader without any
///   lock (the background threads hold the version lock across manifest
///   fsyncs: the leader must not wait for those).
///
/// Invariants (``invariantViolations(live:current:liveCount:oldestLive:nextFileNumber:)``,
/// checked after every roll and removal in debug builds): the live segments
/// are strictly ascending and end with the current one; the atomics match the
/// list; the current number is below the next file number.
final class LogManager: @unchecked Sendable {
    private let wal: WriteAheadLog
    private let versions: VersionSet
    private let testHooks: TestHooks
    /// Log rolls whose new segment could not be created. Leader only.
    private var rollRetry = RetryBackoff()
    /// Live segment numbers, ascending; the current one is last.
    private let segments: Mutex<[UInt64]>
    private let current: Atomic<UInt64>
    private let liveCount = Atomic<Int>(0)
    private let oldestLive = Atomic<UInt64>(0)

    /// Takes over `wal` (the open segment) with `live` the segments still
    /// needed before it (ascending, each below the open one).
    init(wal: WriteAheadLog, olderLiveSegments live: [UInt64], versions: VersionSet, testHooks: TestHooks) {
        self.wal = wal
        self.versions = versions
        self.testHooks = testHooks
        let all = live + [wal.currentNumber]
        segments = Mutex(all)
        current = Atomic(wal.currentNumber)
        liveCount.store(all.count, ordering: .relaxed)
        oldestLive.store(all.first ?? 0, ordering: .relaxed)
        #if DEBUG
        checkInvariants()
        #endif
    }

    // MARK: The leader's log

    /// The open segment, to append to and sync. REQUIRES: commit leader (or
    /// exclusive leadership).
    @inline(__always)
    var leaderLog: WriteAheadLog { wal }

    /// The number of the segment being appended to.
    @inline(__always)
    var currentNumber: UInt64 { current.load(ordering: .acquiring) }

    /// How many segments are live (lock-free; may lag a concurrent change).
    var liveSegmentCount: Int { liveCount.load(ordering: .relaxed) }

    /// The oldest live segment (lock-free; may lag a concurrent change).
    var oldestLiveSegment: UInt64 { oldestLive.load(ordering: .relaxed) }

    /// Whether ``rollIfFull()`` would try a roll now. REQUIRES: commit leader.
    var wantsRoll: Bool { wal.isFull && CommitClock.monotonicMicroseconds() >= rollRetry.notBefore }

    /// After a group (leader): rolls the log when its segment is full and no
    /// failed roll is waiting out its backoff. A roll whose new segment
    /// cannot be created (EMFILE, ENOSPC) is tried again later while the
    /// current segment goes on; any other failure means the log failed and
    /// is returned.
    func rollIfFull() -> StoreError? {
        guard wantsRoll else { return nil }
        do {
            try roll()
        } catch let error as StoreError where error.code == .unavailable {
            rollRetry.failed(error)
        } catch {
            return error as? StoreError ?? StoreError(.io, "log roll failed: \(error)")
        }
        return nil
    }

    /// Starts a new log segment. Throws `.unavailable` when the new segment
    /// could not be created (transient: nothing changed), any other error when
    /// the log failed. REQUIRES: commit leader (or exclusive leadership).
    func roll() throws {
        let number = versions.newFileNumber()
        switch try wal.roll(to: number, beforeCreate: { testHooks.run(.logRollBeforeCreate) }) {
        case .rolled:
            segments.withLock { live in
                current.store(number, ordering: .releasing)
                live.append(number)
                publish(live)
            }
            rollRetry.succeeded()
            #if DEBUG
            checkInvariants()
            #endif
        case .deferred(let error):
            throw StoreError(.unavailable, "a new log segment could not be created (will retry): \(error)",
                             file: error.file, errno: error.errno)
        }
    }

    /// Syncs the open segment if it holds unsynced batches. REQUIRES: commit
    /// leader (or exclusive leadership).
    func syncIfNeeded() throws { try wal.syncIfNeeded() }

    // MARK: Live segments

    /// The live segments numbered below `number` (those a flush made obsolete).
    func liveSegments(below number: UInt64) -> [UInt64] {
        segments.withLock { live in live.filter { $0 < number } }
    }

    /// Forgets the live segments numbered below `number` (their files are
    /// being deleted). `number` is at most the current segment's.
    func forgetSegments(below number: UInt64) {
        segments.withLock { live in
            live.removeAll { $0 < number }
            publish(live)
        }
        #if DEBUG
        checkInvariants()
        #endif
    }

    /// Stores the facts the leader reads without the lock. REQUIRES: inside `segments`.
    private func publish(_ live: [UInt64]) {
        liveCount.store(live.count, ordering: .relaxed)
        oldestLive.store(live.first ?? 0, ordering: .relaxed)
    }

    // MARK: Close

    /// Syncs and closes the open segment. REQUIRES: the pipeline is shut down.
    func close() throws { try wal.close() }

    // MARK: Invariants

    /// Checks the invariants (see the type's documentation); a violation
    /// stops the process. Call it from debug-only paths.
    func checkInvariants() {
        let violations = segments.withLock { live in
            Self.invariantViolations(live: live, current: current.load(ordering: .relaxed),
                                     liveCount: liveCount.load(ordering: .relaxed), oldestLive: oldestLive.load(ordering: .relaxed),
                                     nextFileNumber: versions.upcomingFileNumber)
        }
        precondition(violations.isEmpty, "LogManager invariants violated: \(violations.joined(separator: "; "))")
    }

    /// The invariants a live segment list and its published facts break.
    static func invariantViolations(
        live: [UInt64], current: UInt64, liveCount: Int, oldestLive: UInt64, nextFileNumber: UInt64
    ) -> [String] {
        var violations: [String] = []
        for (earlier, later) in zip(live, live.dropFirst()) where earlier >= later {
            violations.append("live segments not strictly ascending: \(earlier) before \(later)")
        }
        if live.last != current {
            violations.append("the current segment \(current) is not the last live one (\(live.last.map(String.init) ?? "none"))")
        }
        if liveCount != live.count || oldestLive != (live.first ?? 0) {
            violations.append("published count \(liveCount) / oldest \(oldestLive) do not match the list \(live)")
        }
        if current >= nextFileNumber {
            violations.append("the current segment \(current) is not below the next file number \(nextFileNumber)")
        }
        return violations
    }
}
