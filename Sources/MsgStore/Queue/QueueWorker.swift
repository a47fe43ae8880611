/// The loop of a queue's thread: takes every waiting job, writes all
/// enqueued records with one `pwrite` + one `fdatasync` and all acks with one
/// delta record + one `fdatasync` (group commit), then publishes the records
/// to the in-memory state and resumes the callers.
///
/// `@unchecked Sendable`: the storage is touched only by the one thread that
/// runs ``run(inbox:queue:)`` (handed over when the thread starts).
final class QueueWorker: @unchecked Sendable {
    private let storage: QueueStorage
    private let lock: any FileLock
    private var isFinished = false
    private var failure: StoreError?

    init(storage: QueueStorage, lock: any FileLock) {
        self.storage = storage
        self.lock = lock
    }

    func run(inbox: QueueWorkerInbox<DurableQueue.QueueJob>, queue: () -> DurableQueue?) {
        while let jobs = inbox.takeAll() {
            process(jobs, queue: queue())
        }
        finish()
    }

    private func finish() {
        guard !isFinished else { return }
        isFinished = true
        try? storage.close()
        lock.unlock()
    }

    private func process(_ jobs: [DurableQueue.QueueJob], queue: DurableQueue?) {
        var enqueues: [([QueueStorage.NewRecord], CheckedContinuation<[UInt64], any Error>)] = []
        var acks: [([UInt64], CheckedContinuation<Void, any Error>)] = []
        var closes: [CheckedContinuation<Void, any Error>] = []
        var delivered: [(sequence: UInt64, attempt: UInt32)] = []
        var reads: [([QueueRecordLocation], CheckedContinuation<[[UInt8]], any Error>)] = []
        for job in jobs {
            switch job {
            case .read(let locations, let continuation): reads.append((locations, continuation))
            case .deliveries(let items): delivered += items
            case .enqueue(let records, let continuation): enqueues.append((records, continuation))
            case .ack(let sequences, let continuation): acks.append((sequences, continuation))
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
        var assigned: [[(sequence: UInt64, location: QueueRecordLocation)]] = []
        var ackedCount = 0
        if failure == nil && !isFinished {
            do {
                for (records, _) in enqueues { assigned.append(try storage.append(records)) }
                if !enqueues.isEmpty { try storage.commit() }
                try storage.recordDeliveries(delivered)  // before the acks of the same batch
                let sequences = acks.flatMap { $0.0 }
                try storage.recordAcks(sequences)
                ackedCount = sequences.count
            } catch let error as StoreError {
                failure = error
                storage.abandonUncommitted()  // reported failed: never durable
            } catch {
                failure = StoreError(.io, "\(error)", file: storage.directory)
                storage.abandonUncommitted()
            }
        }
        let error = failure ?? (isFinished ? StoreError(.closed, "the queue is closed", file: storage.directory) : nil)
        var waiters: [CheckedContinuation<Void, Never>] = []
        if let queue {
            let segmentCount = storage.segments.count, nextSequence = storage.nextSequence
            waiters = queue.state.withLock { state in
                if let error {
                    if state.failure == nil && failure != nil { state.failure = error }
                } else {
                    for (index, (records, _)) in enqueues.enumerated() {
                        state.publish(zip(assigned[index], records).map {
                            (sequence: $0.0.sequence, location: $0.0.location, record: $0.1, isPayloadLoaded: true)
                        })
                        state.enqueuedTotal += UInt64(records.count)
                    }
                    state.ackedTotal += UInt64(ackedCount)
                }
                state.segmentCount = segmentCount
                state.nextSequence = nextSequence
                return enqueues.isEmpty && error == nil ? [] : state.takeWaiters()
            }
        }
        for waiter in waiters { waiter.resume() }
        for (index, (_, continuation)) in enqueues.enumerated() {
            if let error { continuation.resume(throwing: error) } else { continuation.resume(returning: assigned[index].map(\.sequence)) }
        }
        for (_, continuation) in acks {
            if let error { continuation.resume(throwing: error) } else { continuation.resume() }
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
