/// The loop of a queue's thread: takes every waiting job, writes all
/// enqueued records with one `pwrite` + one `fdatasync` and all acks with one
/// delta record + one `fdatasync` (group commit), then publishes the records
/// to the in-memory state and resumes the callers.
///
/// `@unchecked Sendable`: the storage is touched by one thread at a time —
/// the queue's thread in ``run(mailbox:queue:)``, or a caller running a job
/// in place through ``QueueWorkerMailbox/runInPlaceIfIdle(_:_:)``, which
/// never overlaps the worker (the mailbox's mutex orders them).
final class QueueWorker: @unchecked Sendable {
    private let storage: QueueStorage
    private let lock: any FileLock
    private var isFinished = false
    private var failure: StoreError?

    init(storage: QueueStorage, lock: any FileLock) {
        self.storage = storage
        self.lock = lock
    }

    func run(mailbox: QueueWorkerMailbox<DurableQueue.QueueJob>, queue: () -> DurableQueue?) {
        while let jobs = mailbox.takeAll() {
            process(jobs, queue: queue())
        }
        finish()
    }

    /// Records the first write or sync failure (the queue is read-only from
    /// now on: enqueues and acks are refused with ``StoreError/Code/unavailable``,
    /// receives go on), takes back what the failed batch had written, and
    /// returns the error for the batch's callers.
    private func fail(with error: any Error) -> StoreError {
        let cause = error as? StoreError ?? StoreError(.io, "\(error)", file: storage.directory)
        if failure == nil {
            failure = StoreError(.unavailable, "the queue is read-only after a failed write or sync of its files "
                                 + "(reopen it to recover; nothing acknowledged is lost): \(cause)",
                                 file: cause.file, errno: cause.errno)
        }
        storage.abandonUncommitted()
        return StoreError(.unavailable, "not made durable, and the queue is now read-only: \(cause)",
                          file: cause.file, errno: cause.errno)
    }

    private func finish() {
        guard !isFinished else { return }
        isFinished = true
        try? storage.close()
        lock.unlock()
    }

    /// Processes `job` on the calling thread (the mailbox has made it the only
    /// processor), unless it could start file work that syncs (a segment roll,
    /// a consumer-state rewrite): then it does nothing and returns false, and
    /// the job goes to the queue's thread.
    func processInPlace(_ job: DurableQueue.QueueJob, queue: DurableQueue?) -> Bool {
        var bytes = 0
        if case .enqueue(let records, _) = job { bytes = records.reduce(0) { $0 + $1.payload.count + 64 } }
        if !isFinished && storage.mayStartFileWork(appending: bytes) { return false }
        process([job], queue: queue)
        return true
    }

    /// Processes a batch of jobs (the worker's loop, or a caller in place).
    func process(_ jobs: [DurableQueue.QueueJob], queue: DurableQueue?) {
        var enqueues: [([QueueStorage.NewRecord], CheckedContinuation<[UInt64], any Error>)] = []
        var acks: [([UInt64], CheckedContinuation<Void, any Error>)] = []
        var syncsAcks = false
        var closes: [CheckedContinuation<Void, any Error>] = []
        var delivered: [(sequence: UInt64, attempt: UInt32)] = []
        var reads: [([QueueRecordLocation], CheckedContinuation<[[UInt8]], any Error>)] = []
        for job in jobs {
            switch job {
            case .read(let locations, let continuation): reads.append((locations, continuation))
            case .deliveries(let items): delivered += items
            case .enqueue(let records, let continuation): enqueues.append((records, continuation))
            case .ack(let sequences, let sync, let continuation):
                acks.append((sequences, continuation))
                syncsAcks = syncsAcks || sync
            case .close(let continuation): closes.append(continuation)
            }
        }
        // Reads first: they only touch records already written and not yet acked.
        for (locations, continuation) in reads {
            if isFinished {
                continuation.resume(throwing: StoreError(.closed, "the queue is closed", file: storage.directory))
                continue
            }
            do { continuation.resume(returning: try storage.readPayloads(locations)) } catch { continuation.resume(throwing: error) }
        }
        // Enqueues and acks succeed or fail separately: once the enqueues' commit returned, their
        // records are durable and they are acknowledged, even if the acks of the same batch then fail.
        // A failed enqueue is cut back off the disk (`abandonUncommitted`): reported failed, never durable.
        var assigned: [[(sequence: UInt64, location: QueueRecordLocation)]] = []
        var enqueueError: StoreError?
        var ackError: StoreError?
        var ackedCount = 0
        if let refusal = failure ?? (isFinished ? StoreError(.closed, "the queue is closed", file: storage.directory) : nil) {
            enqueueError = refusal
            ackError = refusal
        } else {
            if !enqueues.isEmpty {
                do {
                    for (records, _) in enqueues { assigned.append(try storage.append(records)) }
                    try storage.commit()
                } catch {
                    enqueueError = fail(with: error)
                }
            }
            if let failure {
                ackError = failure
            } else {
                do {
                    try storage.recordDeliveries(delivered)  // before the acks of the same batch
                    let sequences = acks.flatMap { $0.0 }
                    try storage.recordAcks(sequences, sync: syncsAcks)
                    ackedCount = sequences.count
                } catch {
                    ackError = fail(with: error)
                }
            }
        }
        let published = enqueueError == nil
        var waiters: [CheckedContinuation<Void, Never>] = []
        if let queue {
            let segmentCount = storage.segments.count, nextSequence = storage.nextSequence, failure = self.failure
            let backgroundFailure = storage.retriedFailure, syncCount = storage.syncCount
            waiters = queue.state.withLock { state in
                if let failure, state.failure == nil { state.failure = failure }
                state.backgroundFailure = backgroundFailure
                if published {
                    for (index, (records, _)) in enqueues.enumerated() {
                        state.publish(zip(assigned[index], records).map {
                            (sequence: $0.0.sequence, location: $0.0.location, record: $0.1, isPayloadLoaded: true)
                        })
                        state.enqueuedTotal += UInt64(records.count)
                    }
                }
                if ackError == nil { state.ackedTotal += UInt64(ackedCount) }
                state.segmentCount = segmentCount
                state.syncCount = syncCount
                state.nextSequence = nextSequence
                return enqueues.isEmpty && enqueueError == nil && ackError == nil ? [] : state.takeWaiters()
            }
        }
        for waiter in waiters { waiter.resume() }
        for (index, (_, continuation)) in enqueues.enumerated() {
            if let enqueueError { continuation.resume(throwing: enqueueError) } else { continuation.resume(returning: assigned[index].map(\.sequence)) }
        }
        for (_, continuation) in acks {
            if let ackError { continuation.resume(throwing: ackError) } else { continuation.resume() }
        }
        if !closes.isEmpty {
            var closeError: (any Error)?
            if !isFinished {
                do { try storage.close() } catch { closeError = error }
                isFinished = true
                lock.unlock()
            }
            for continuation in closes {
                if let closeError { continuation.resume(throwing: closeError) } else { continuation.resume() }
            }
        }
    }
}
