import Synchronization

/// What the commit pipeline needs from the store: turning a batch into its
/// final ops (index maintenance), and applying committed batches.
protocol CommitTarget: AnyObject, Sendable {
    /// Appends the index ops a batch implies. Called by the leader, in commit
    /// order, before the batch is logged. `overlay` carries the effects of the
    /// earlier batches of the same group, which are not applied yet.
    func expandIndexes(_ batch: inout WriteBatch, overlay: inout IndexOverlay) throws
    /// Inserts a logged batch into the memtables.
    func apply(_ record: UnsafeRawBufferPointer) throws
    /// Called by the leader after a group is applied (memtable rotation, flush scheduling).
    func afterGroup() throws
    /// Blocks the leader while the memtables are over budget (flushes catching up).
    func waitForMemoryBudget() throws
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
/// themselves. Async callers (``commit(_:sync:) async``) never block a
/// thread of Swift's cooperative pool: they suspend, and the pipeline's own
/// *log thread* leads for them.
///
/// Invariants: at most one leader at a time (`leaderActive`); sequence
/// numbers, log order, memtable order and publication order are all queue
/// order; `published` only grows and always ends a whole batch, so a reader
/// at snapshot `published` sees every earlier batch whole.
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

    // Owned by the current leader:
    private let wal: WriteAheadLog
    private var nextSequence: UInt64
    private var clock: CommitClock
    private unowned(unsafe) let target: any CommitTarget
    private let maxGroupBytes: Int

    /// The last sequence number whose batch is fully applied and visible.
    let published: Atomic<UInt64>
    /// The commit timestamp of the batch at `published`.
    let publishedTimestamp: Atomic<Int64>
    /// Counters.
    let stats = CommitStats()

    init(wal: WriteAheadLog, lastSequence: UInt64, clock: CommitClock, target: any CommitTarget, options: StoreOptions) {
        let lock = ConditionLock()
        self.lock = lock
        self.logThreadWakeup = LockCondition(lock)
        self.wal = wal
        self.nextSequence = lastSequence + 1
        self.clock = clock
        self.target = target
        self.maxGroupBytes = options.maxGroupCommitBytes
        self.published = Atomic(lastSequence)
        self.publishedTimestamp = Atomic(clock.last)
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

    /// Commits `batch` without blocking the caller's thread: the log thread leads.
    func commit(_ batch: WriteBatch, sync: Bool) async throws -> CommitReceipt {
        try await withCheckedThrowingContinuation { continuation in
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
            if queueHead < queue.count && queue[queueHead].continuation != nil { logThreadWakeup.broadcast() }
            lock.unlock()
        }
        return try body()
    }

    /// The error that stopped the pipeline, if any.
    var failed: StoreError? { lock.withLock { failure } }

    private func logThreadLoop() {
        lock.lock()
        while true {
            let hasWork = queueHead < queue.count
            if !leaderActive && hasWork && queue[queueHead].continuation != nil {
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

    /// Leads one group. REQUIRES: lock held, no leader active, queue not empty.
    /// Returns with the lock held.
    private func lead() {
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
        if queueHead > 1024 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        let failureBefore = failure
        lock.unlock()

        let outcome: Result<[CommitReceipt], StoreError>
        if let failureBefore {
            outcome = .failure(failureBefore)
        } else {
            outcome = runGroup(group)
        }

        var continuations: [(CheckedContinuation<CommitReceipt, any Error>, Result<CommitReceipt, StoreError>)] = []
        lock.lock()
        switch outcome {
        case .success(let receipts):
            for (request, receipt) in zip(group, receipts) { request.result = .success(receipt) }
        case .failure(let error):
            if failure == nil { failure = error }
            for request in group { request.result = .failure(error) }
        }
        for request in group {
            if let continuation = request.continuation { continuations.append((continuation, request.result!)) }
        }
        leaderActive = false
        lock.broadcast()
        if queueHead < queue.count && queue[queueHead].continuation != nil { logThreadWakeup.broadcast() }
        lock.unlock()
        for (continuation, result) in continuations {
            continuation.resume(with: result.mapError { $0 as any Error })
        }
        lock.lock()
    }

    /// Sequences, logs, syncs and applies a group. Runs without the lock.
    private func runGroup(_ group: [Request]) -> Result<[CommitReceipt], StoreError> {
        do {
            try target.waitForMemoryBudget()
            var overlay = IndexOverlay()
            var receipts: [CommitReceipt] = []
            receipts.reserveCapacity(group.count)
            var wantsSync = false
            let firstSequence = nextSequence
            for request in group {
                let timestamp = clock.next()
                request.batch.applyStamps(timestamp)
                if request.batch.touchesIndexedTable {
                    try target.expandIndexes(&request.batch, overlay: &overlay)
                }
                let base = nextSequence
                request.batch.writeHeader(baseSequence: base, timestamp: timestamp)
                nextSequence += UInt64(max(request.batch.count, 1))
                receipts.append(CommitReceipt(sequence: nextSequence - 1, timestamp: timestamp))
                request.batch.bytes.withUnsafeBytes { wal.append($0) }
                wantsSync = wantsSync || request.sync
            }
            let shouldSync = wantsSync
            let lengthBefore = wal.writer.flushedLength
            try wal.commit(sync: shouldSync)
            stats.logBytes.add(UInt64(wal.writer.flushedLength - lengthBefore), ordering: .relaxed)
            for request in group {
                try request.batch.bytes.withUnsafeBytes { try target.apply($0) }
            }
            publishedTimestamp.store(clock.last, ordering: .relaxed)
            published.store(nextSequence - 1, ordering: .releasing)
            stats.record(batches: group.count, sequences: nextSequence - firstSequence, synced: shouldSync)
            try target.afterGroup()
            return .success(receipts)
        } catch let error as StoreError {
            return .failure(error)
        } catch {
            return .failure(StoreError(.io, "commit failed: \(error)"))
        }
    }

    /// The log, for the leader's own use in `afterGroup` (rolling segments).
    /// REQUIRES: called on the leader (from `CommitTarget.afterGroup`).
    var logForLeader: WriteAheadLog { wal }
    /// The commit clock's last value. REQUIRES: leader or quiesced.
    var lastTimestamp: Int64 { clock.last }
}

/// Counters of the commit pipeline.
final class CommitStats: Sendable {
    let groups = Atomic<UInt64>(0)
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
