import Synchronization

/// How a group commit ended.
private enum GroupOutcome {
    /// Logged, applied and published; with `laterFailure`, work after the
    /// publication failed and later writes are refused.
    /// `deferred`: the work after the group is left to the log thread.
    case committed([CommitReceipt], laterFailure: StoreError?, deferred: Bool)
    /// Refused before any byte of it reached the log; the pipeline goes on.
    case refused(StoreError)
    /// The log write or sync failed: the group is not acknowledged, and the
    /// pipeline refuses every later write (the store is read-only until restarted).
    case failed(StoreError)
}

/// Group commit (LevelDB's writer queue, RocksDB's write group).
///
/// Writers queue their batch. The writer at the head of the queue becomes the
/// *leader*: it takes every queued batch (up to a byte bound), gives each its
/// sequence numbers and commit timestamp in queue order, frames them all into
/// the log, writes them with one `pwrite` and — if any of them asked for it —
/// one `fdatasync`, applies them to the memtables in order, publishes the
/// last sequence, and wakes the others. Followers just wait.
///
/// Synchronous callers (``commit(_:sync:)``, from their own threads) lead
/// themselves. Async callers (``commit(_:sync:) async``) never wait for I/O
/// on a thread of Swift's cooperative pool: a batch that asks for an
/// `fdatasync`, or arrives while another group is being led or the memtables
/// are over budget, suspends and the pipeline's own *log thread* leads for
/// it. An unsynced batch that finds the pipeline idle and the memtables
/// under budget leads *in place* (RocksDB's and LevelDB's model: the writer
/// thread does the work): a `pwrite` into the page cache and the memtable
/// inserts, microseconds — two thread switches cheaper than the hop to the
/// log thread and back. The work that may block after such a group (rolling
/// the log segment, rotating memtables, which syncs the log) is handed to
/// the log thread, which holds the leadership until it is done.
///
/// The leader works with the parts it is given at construction — it calls
/// them, they never call it (no reference leads back to the pipeline or its
/// owner):
/// - ``MemTableSet``: backpressure before the group (``MemTableSet/waitForBudget()``),
///   applying each logged batch, and rotating memtables after the group;
/// - ``IndexMaintenance``: the index ops each batch implies;
/// - ``LogManager``: the open log segment to append to and sync, and
///   rolling it after the group;
/// - ``PublishedSequence``: where the group becomes visible.
/// The engine drives the rest (``withExclusiveLeadership(_:)``, ``fail(_:)``,
/// ``shutdown()``).
///
/// Invariants: at most one leader at a time (`leaderActive`); sequence
/// numbers, log order, memtable order and publication order are all queue
/// order; the published sequence only grows and always ends a whole batch,
/// so a reader at that snapshot sees every earlier batch whole.
final class CommitPipeline: @unchecked Sendable {
    private final class Request {
        var batch: WriteBatch
        let sync: Bool
        let continuation: CheckedContinuation<CommitReceipt, any Error>?
        var result: Result<CommitReceipt, StoreError>?

        init(batch: WriteBatch, sync: Bool, continuation: CheckedContinuation<CommitReceipt, any Error>?) {
            self.batch = batch
            self.sync = sync
            self.continuation = continuation
        }
    }

    private let lock: ConditionLock
    /// Wakes the log thread: async work queued, a leader finished, or shutdown.
    private let logThreadWakeup: LockCondition
    // Guarded by `lock`:
    private var queue: [Request] = []
    private var queueHead = 0
    private var leaderActive = false
    private var stopping = false
    private var threadRunning = false
    private var failure: StoreError?
    /// An in-place leader published its group and left the work after it
    /// (``afterGroup()``) to the log thread; `leaderActive` stays set until
    /// the log thread has done it.
    private var afterGroupPending = false

    // Owned by the current leader:
    private var nextSequence: UInt64
    let clock: CommitClock
    private let maxGroupBytes: Int
    private let followerWaitSeconds: Double
    /// Batches in the last group that synced (log thread only).
    private var lastSyncedGroupSize = 0

    // The parts the leader calls (see the type's documentation):
    private let log: LogManager
    private let memtables: MemTableSet
    private let indexes: IndexMaintenance
    private let published: PublishedSequence

    /// Counters.
    let stats = CommitStats()

    /// Told of slow syncs (``StoreOptions/eventListener``).
    private let eventListener: (@Sendable (StoreEvent) -> Void)?
    /// What counts as a slow sync.
    private let slowSyncMicroseconds: Int64

    /// A pipeline whose next batch gets sequence `lastSequence + 1`, stamped
    /// by `clock`; starts the log thread. `published` must already hold
    /// `lastSequence` and `clock.last`.
    init(log: LogManager, memtables: MemTableSet, indexes: IndexMaintenance, published: PublishedSequence,
         lastSequence: UInt64, clock: CommitClock, options: StoreOptions) {
        let lock = ConditionLock()
        self.lock = lock
        self.logThreadWakeup = LockCondition(lock)
        self.log = log
        self.memtables = memtables
        self.indexes = indexes
        self.published = published
        self.nextSequence = lastSequence + 1
        self.clock = clock
        self.maxGroupBytes = options.maxGroupCommitBytes
        self.eventListener = options.eventListener
        self.slowSyncMicroseconds = options.slowSyncMicroseconds
        self.followerWaitSeconds = Double(max(0, options.groupCommitWaitMicroseconds)) / 1e6
        threadRunning = true
        startThread(name: "msgstore-log") { [self] in logThreadLoop() }
    }

    /// Commits `batch` from the calling thread, which may become the leader.
    /// Blocks until the batch is durable (per `sync`) and visible.
    /// Do not call from Swift's cooperative thread pool; use the async variant.
    func commit(_ batch: WriteBatch, sync: Bool) throws -> CommitReceipt {
        let request = Request(batch: batch, sync: sync, continuation: nil)
        lock.lock()
        if let error = refusal() {
            lock.unlock()
            throw error
        }
        queue.append(request)
        while request.result == nil && (leaderActive || queue[queueHead] !== request) {
            lock.wait()
        }
        if let result = request.result {
            lock.unlock()
            return try result.get()
        }
        lead()  // returns with the lock held
        lock.unlock()
        return try request.result!.get()
    }

    /// Commits `batch` without waiting for I/O on the caller's thread: an
    /// unsynced batch leads in place when the pipeline is idle, any other
    /// suspends while the log thread leads.
    func commit(_ batch: WriteBatch, sync: Bool) async throws -> CommitReceipt {
        if !sync, let receipt = try commitInPlaceIfIdle(batch) { return receipt }
        return try await withCheckedThrowingContinuation { continuation in
            let request = Request(batch: batch, sync: sync, continuation: continuation)
            lock.lock()
            if let error = refusal() {
                lock.unlock()
                continuation.resume(throwing: error)
                return
            }
            queue.append(request)
            if !leaderActive { logThreadWakeup.broadcast() }
            lock.unlock()
        }
    }

    /// Leads an unsynced batch on the calling thread if no group is being
    /// led or queued and the memtables admit it without waiting; nil (nothing
    /// done) otherwise.
    private func commitInPlaceIfIdle(_ batch: WriteBatch) throws -> CommitReceipt? {
        lock.lock()
        if let error = refusal() {
            lock.unlock()
            throw error
        }
        guard !leaderActive, queueHead == queue.count, memtables.admitsWithoutWaiting else {
            lock.unlock()
            return nil
        }
        let request = Request(batch: batch, sync: false, continuation: nil)
        queue.append(request)
        lead(inPlace: true)  // returns with the lock held
        stats.inPlaceGroups.add(1, ordering: .relaxed)
        lock.unlock()
        return try request.result!.get()
    }

    private func refusal() -> StoreError? {
        if let failure { return failure }
        if stopping { return StoreError(.closed, "the store is closed") }
        return nil
    }

    /// Stops accepting writes, lets queued ones finish, and stops the log thread.
    func shutdown() {
        lock.lock()
        stopping = true
        lock.broadcast()
        logThreadWakeup.broadcast()
        while threadRunning || leaderActive || queueHead < queue.count { lock.wait() }
        lock.unlock()
    }

    /// Runs `body` as the only leader: no group commits while it runs, so it
    /// may do what only the leader may (rotate memtables). Blocks the thread.
    func withExclusiveLeadership<T>(_ body: () throws -> T) throws -> T {
        lock.lock()
        while leaderActive { lock.wait() }
        if let failure {
            lock.unlock()
            throw failure
        }
        leaderActive = true
        lock.unlock()
        defer {
            lock.lock()
            leaderActive = false
            lock.broadcast()
            wakeLogThreadIfItHasWork()
            lock.unlock()
        }
        return try body()
    }

    /// Bytes of batches still held by finished requests (0: each is released
    /// as soon as its group ends).
    var finishedRequestBytes: Int {
        lock.withLock { queue[..<queueHead].reduce(0) { $0 + $1.batch.bytes.count - WriteBatch.headerSize } }
    }

    /// Wakes the log thread when a leader that is not the log thread lets
    /// go and the thread has something to do: lead the async writer now at
    /// the head of the queue, or — once ``shutdown()`` asked — exit (it
    /// waits for the leadership to end first, and nothing else would wake
    /// it). REQUIRES: lock held.
    private func wakeLogThreadIfItHasWork() {
        if stopping || (queueHead < queue.count && queue[queueHead].continuation != nil) { logThreadWakeup.broadcast() }
    }

    /// The error that stopped the pipeline, if any.
    var failed: StoreError? { lock.withLock { failure } }

    private func logThreadLoop() {
        lock.lock()
        while true {
            if afterGroupPending {
                afterGroupPending = false
                lock.unlock()
                let laterFailure = afterGroup()
                lock.lock()
                if let laterFailure, failure == nil { failure = Self.readOnly(laterFailure) }
                leaderActive = false
                lock.broadcast()
                continue
            }
            let hasWork = queueHead < queue.count
            if !leaderActive && hasWork && queue[queueHead].continuation != nil {
                waitForFollowers()
                if leaderActive || queueHead == queue.count { continue }  // an in-place leader took over meanwhile
                lead()
                continue
            }
            if stopping && !hasWork && !leaderActive { break }
            logThreadWakeup.wait()
        }
        threadRunning = false
        lock.broadcast()
        lock.unlock()
    }

    /// Before the log thread leads a group that will sync: if the previous
    /// synced group held more batches than are queued now, waits (up to
    /// `followerWaitSeconds`, less once as many are queued) for the writers
    /// the last group woke to come back, so that one `fdatasync` serves them
    /// all. REQUIRES: lock held (released while waiting), log thread.
    private func waitForFollowers() {
        guard followerWaitSeconds > 0, lastSyncedGroupSize > queue.count - queueHead,
              queue[queueHead...].contains(where: { $0.sync }) else { return }
        let deadline = CommitClock.monotonicMicroseconds() + Int64(followerWaitSeconds * 1e6)
        while !stopping && !leaderActive && queue.count - queueHead < lastSyncedGroupSize {
            let remaining = deadline - CommitClock.monotonicMicroseconds()
            if remaining <= 0 { break }
            _ = logThreadWakeup.wait(seconds: Double(remaining) / 1e6)
        }
    }

    /// Leads one group. REQUIRES: lock held, no leader active, queue not empty.
    /// Returns with the lock held. In place (an async caller's thread), the
    /// work after the group that may block is left to the log thread.
    private func lead(inPlace: Bool = false) {
        leaderActive = true
        // Take the group: queue order, bounded in bytes.
        var group: [Request] = []
        var bytes = 0
        while queueHead < queue.count {
            let next = queue[queueHead]
            if !group.isEmpty && bytes + next.batch.byteCount > maxGroupBytes { break }
            group.append(next)
            bytes += next.batch.byteCount
            queueHead += 1
        }
        if queueHead > 64 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        let failureBefore = failure
        lock.unlock()

        let outcome: GroupOutcome
        if let failureBefore {
            outcome = .refused(failureBefore)
        } else {
            outcome = runGroup(group, deferringBlockingWork: inPlace)
        }

        var continuations: [(CheckedContinuation<CommitReceipt, any Error>, Result<CommitReceipt, StoreError>)] = []
        lock.lock()
        switch outcome {
        case .committed(let receipts, let laterFailure, let deferred):
            for (request, receipt) in zip(group, receipts) { request.result = .success(receipt) }
            if group.contains(where: { $0.sync }) { lastSyncedGroupSize = group.count }
            if let laterFailure, failure == nil { failure = Self.readOnly(laterFailure) }
            afterGroupPending = deferred
        case .refused(let error):
            for request in group { request.result = .failure(error) }
        case .failed(let error):
            if failure == nil { failure = Self.readOnly(error) }
            let refusal = StoreError(.unavailable, "the write was not acknowledged and will not be applied: \(error)",
                                     file: error.file, errno: error.errno)
            for request in group { request.result = .failure(refusal) }
        }
        for request in group {
            // A finished request keeps only its result: the batch's bytes go now,
            // not when the queue is next compacted.
            request.batch = Self.releasedBatch
            if let continuation = request.continuation { continuations.append((continuation, request.result!)) }
        }
        if afterGroupPending {
            logThreadWakeup.broadcast()  // it finishes the group and hands the leadership on
        } else {
            leaderActive = false
            lock.broadcast()
            wakeLogThreadIfItHasWork()
        }
        lock.unlock()
        for (continuation, result) in continuations {
            continuation.resume(with: result.mapError { $0 as any Error })
        }
        lock.lock()
    }

    /// What a finished request holds instead of its batch (shared storage, no allocation).
    private static let releasedBatch = WriteBatch()

    /// The error every write gets once the log can no longer be trusted.
    private static func readOnly(_ cause: StoreError) -> StoreError {
        StoreError(.unavailable, "the store is read-only after a failed write to its log or manifest "
                   + "(restart it to recover; nothing acknowledged is lost): \(cause)", file: cause.file, errno: cause.errno)
    }

    /// Refuses every later write with `error` (the store became read-only).
    func fail(_ error: StoreError) {
        lock.withLock { if failure == nil { failure = Self.readOnly(error) } }
    }

    private static func storeError(_ error: any Error) -> StoreError {
        error as? StoreError ?? StoreError(.io, "commit failed: \(error)")
    }

    /// Sequences, logs, syncs and applies a group. Runs without the lock.
    /// With `deferringBlockingWork`, the work after the group is not run when
    /// it may block (``afterGroupMayBlock``): the outcome says it is deferred.
    ///
    /// Every batch is prepared (stamped, index ops added, sequenced) before
    /// any byte reaches the log, so a batch that fails preparation leaves
    /// nothing behind: the whole group is refused and the pipeline goes on.
    private func runGroup(_ group: [Request], deferringBlockingWork: Bool) -> GroupOutcome {
        do {
            try memtables.waitForBudget()
        } catch {
            return .refused(Self.storeError(error))
        }
        var overlay = IndexOverlay()
        var receipts: [CommitReceipt] = []
        receipts.reserveCapacity(group.count)
        var wantsSync = false
        let firstSequence = nextSequence
        do {
            for request in group {
                let timestamp = clock.next()
                request.batch.applyStamps(timestamp)
                if request.batch.touchesIndexedTable {
                    try indexes.expand(&request.batch, overlay: &overlay)
                }
                let count = UInt64(max(request.batch.count, 1))
                guard nextSequence <= UInt64.max - count else {
                    throw StoreError(.limitExceeded, "sequence numbers are exhausted")
                }
                request.batch.writeHeader(baseSequence: nextSequence, timestamp: timestamp)
                nextSequence += count
                receipts.append(CommitReceipt(sequence: nextSequence - 1, timestamp: timestamp))
                wantsSync = wantsSync || request.sync
            }
        } catch {
            nextSequence = firstSequence
            return .refused(Self.storeError(error))
        }
        let wal = log.leaderLog
        wal.appendCheckpointIfNeeded()
        for request in group {
            request.batch.bytes.withUnsafeBytes { wal.append($0) }
        }
        let shouldSync = wantsSync
        let lengthBefore = wal.writer.flushedLength
        let syncStart = shouldSync && eventListener != nil ? CommitClock.monotonicMicroseconds() : 0
        do {
            try wal.commit(sync: shouldSync)
        } catch {
            return .failed(Self.storeError(error))
        }
        if syncStart > 0, let eventListener {
            let elapsed = CommitClock.monotonicMicroseconds() - syncStart
            if elapsed > slowSyncMicroseconds {
                eventListener(.slowSync(StoreEvent.SlowSyncInfo(file: wal.writer.file.path, bytes: wal.writer.flushedLength - lengthBefore,
                                                                 microseconds: elapsed)))
            }
        }
        stats.logBytes.add(UInt64(wal.writer.flushedLength - lengthBefore), ordering: .relaxed)
        do {
            for request in group {
                try request.batch.bytes.withUnsafeBytes { try memtables.apply($0) }
            }
        } catch {
            // Logged but not applicable: the memtables no longer match the log.
            return .failed(Self.storeError(error))
        }
        published.publish(sequence: nextSequence - 1, timestamp: clock.last)
        stats.record(batches: group.count, sequences: nextSequence - firstSequence, synced: shouldSync)
        if deferringBlockingWork && afterGroupMayBlock {
            return .committed(receipts, laterFailure: nil, deferred: true)
        }
        return .committed(receipts, laterFailure: afterGroup(), deferred: false)
    }

    /// Whether ``afterGroup()`` has work that may block (a log roll, a
    /// memtable rotation). REQUIRES: commit leader, after the group.
    private var afterGroupMayBlock: Bool {
        log.wantsRoll || memtables.hasRotationDue
    }

    /// After a group is applied and published: roll the log when its segment
    /// is full; rotate memtables that are full, over the memory budget, or
    /// pinning too many log segments (waking the flush thread). Returns an
    /// error only when the log can no longer be trusted: later writes are
    /// then refused.
    private func afterGroup() -> StoreError? {
        if let failure = log.rollIfFull() { return failure }
        do {
            try memtables.rotateWhereDue()
        } catch {
            return error as? StoreError ?? StoreError(.io, "log sync before a memtable rotation failed: \(error)")
        }
        #if DEBUG
        memtables.checkInvariants()
        #endif
        return nil
    }
}

/// Counters of the commit pipeline.
final class CommitStats: Sendable {
    let groups = Atomic<UInt64>(0)
    let inPlaceGroups = Atomic<UInt64>(0)
    let batches = Atomic<UInt64>(0)
    let syncs = Atomic<UInt64>(0)
    let logBytes = Atomic<UInt64>(0)

    func record(batches count: Int, sequences: UInt64, synced: Bool) {
        groups.add(1, ordering: .relaxed)
        batches.add(UInt64(count), ordering: .relaxed)
        if synced { syncs.add(1, ordering: .relaxed) }
    }
}

extension WriteBatch {
    /// Fills the header. Called once, by the leader, after index expansion.
    mutating func writeHeader(baseSequence: UInt64, timestamp: Int64) {
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: baseSequence.littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: UInt64(bitPattern: timestamp).littleEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: UInt32(count).littleEndian, toByteOffset: 16, as: UInt32.self)
        }
    }

    /// Writes the commit timestamp where ops asked for it. Called once, by the leader.
    mutating func applyStamps(_ timestamp: Int64) {
        guard hasStamps else { return }
        let stamp = UInt64(bitPattern: timestamp).bigEndian
        var positions: [Int] = []
        _ = bytes.withUnsafeBytes { raw in
            BatchDecoder.forEachOp(raw) { op in
                if let position = op.stampKeyPosition { positions.append(position) }
                if let position = op.stampValuePosition { positions.append(position) }
            }
        }
        guard !positions.isEmpty else { return }
        bytes.withUnsafeMutableBytes { raw in
            for position in positions { raw.storeBytes(of: stamp, toByteOffset: position, as: UInt64.self) }
        }
    }
}
