#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A named durable queue: at-least-once delivery with leases (visibility
/// timeouts), a retry limit and a dead-letter queue, stored as segment files
/// in one directory (docs/queue-format.md).
///
/// - Enqueues are **group-committed**: concurrent callers share one write and
///   one `fdatasync`; `enqueue` returns only once the message is durable
///   (with ``SyncMode/always``).
/// - An `fdatasync` runs on the queue's own thread; async callers suspend,
///   they never wait for one on the cooperative thread pool. Work without
///   one (an enqueue with ``SyncMode/none``, an unsynced ack, reading a
///   payload back) runs in place on the caller's thread when the queue's
///   thread is idle.
/// - Leases live in memory: after a restart every unacked message is visible again.
/// - One process at a time: the directory's `LOCK` is held while open.
public final class DurableQueue: Sendable {
    /// The queue's directory.
    public let directory: String
    /// What opening the queue found and repaired (torn tails cut, messages found).
    public let recoveryReport: QueueRecoveryReport
    /// Where messages go after ``QueueOptions/maxAttempts`` deliveries (`<directory>.dlq`), if enabled.
    public let deadLetterQueue: DurableQueue?

    let options: QueueOptions
    let state: Mutex<QueueState>
    let mailbox: QueueWorkerMailbox<QueueJob>
    /// Processes the jobs: on the queue's thread, or in place (``submit(_:inPlace:)``).
    let worker: QueueWorker
    /// Points where tests intervene (disarmed in production; see ``TestHooks``).
    let testHooks: TestHooks

    /// Work for the queue's thread.
    enum QueueJob: Sendable {
        case enqueue([QueueStorage.NewRecord], CheckedContinuation<[UInt64], any Error>)
        /// Acks to record; `sync` false: written, not `fdatasync`'ed (unless a synced ack shares the group).
        case ack([UInt64], sync: Bool, CheckedContinuation<Void, any Error>)
        /// Payloads to read back from the segments (messages over the memory budget).
        case read([QueueRecordLocation], CheckedContinuation<[[UInt8]], any Error>)
        /// Deliveries to record (no caller waits: they only raise attempt counts after a restart).
        case deliveries([(sequence: UInt64, attempt: UInt32)])
        case close(CheckedContinuation<Void, any Error>)
    }

    /// The directory of queue `name` in a data directory: `<dataDirectory>/queues/<name>`.
    public static func directory(forQueue name: String, inDataDirectory dataDirectory: String) -> String {
        StoreFileNames.queueDirectory(name, inDataDirectory: dataDirectory)
    }

    /// Opens (creating if needed) the queue in `directory`, recovering its files:
    /// a torn tail is cut (see ``recoveryReport``); corruption before the tail
    /// throws ``StoreError/Code/corruption`` naming the file and offset. Opens
    /// the dead-letter queue too, unless ``QueueOptions/hasDeadLetterQueue`` is false.
    ///
    /// Does blocking file I/O: call it at startup, not from a latency-sensitive task.
    public static func open(directory: String, fileSystem: any FileSystem = PosixFileSystem(),
                            options: QueueOptions = QueueOptions()) throws -> DurableQueue {
        let testHooks = TestHooks()
        testHooks.armFromEnvironment()
        return try open(directory: directory, fileSystem: fileSystem, options: options, testHooks: testHooks)
    }

    /// Opens the queue with the given test hooks (a store passes its own; the
    /// dead-letter queue shares its queue's).
    static func open(directory: String, fileSystem: any FileSystem, options: QueueOptions,
                     testHooks: TestHooks) throws -> DurableQueue {
        guard options.maxAttempts >= 1, options.maxSegmentBytes >= 1024, options.maxPayloadBytes >= 0 else {
            throw StoreError(.invalidArgument, "maxAttempts must be ≥ 1 and maxSegmentBytes ≥ 1024")
        }
        if !fileSystem.exists(directory) {
            try fileSystem.createDirectory(directory)
            // Make the new directory's entry (and a new `queues/` parent's) durable.
            let parent = directoryName(of: directory)
            try fileSystem.syncDirectory(parent)
            try fileSystem.syncDirectory(directoryName(of: parent))
        }
        let lock = try fileSystem.lock(joinPath(directory, StoreFileNames.lock))
        do {
            var deadLetterQueue: DurableQueue?
            if options.hasDeadLetterQueue {
                var deadLetterOptions = options
                deadLetterOptions.hasDeadLetterQueue = false
                deadLetterOptions.preallocateSegments = false
                // A dead letter is never dropped by a retry limit: it waits for redrive or a consumer's ack.
                deadLetterOptions.maxAttempts = Int.max
                deadLetterQueue = try open(directory: directory + ".dlq", fileSystem: fileSystem, options: deadLetterOptions,
                                           testHooks: testHooks)
            }
            let recovered = try QueueStorage.recover(directory: directory, fileSystem: fileSystem, options: options,
                                                     testHooks: testHooks)
            return try DurableQueue(directory: directory, options: options, recovered: recovered,
                                    lock: lock, deadLetterQueue: deadLetterQueue, testHooks: testHooks)
        } catch {
            lock.unlock()
            throw error
        }
    }

    private init(directory: String, options: QueueOptions,
                 recovered: (storage: QueueStorage, unacked: [RecoveredMessage], report: QueueRecoveryReport),
                 lock: any FileLock, deadLetterQueue: DurableQueue?, testHooks: TestHooks) throws {
        self.directory = directory
        self.testHooks = testHooks
        self.options = options
        self.recoveryReport = recovered.report
        self.deadLetterQueue = deadLetterQueue
        var initial = QueueState()
        initial.maxPayloadBytes = options.maxMemoryPayloadBytes
        initial.publish(recovered.unacked.map {
            (sequence: $0.record.sequence, location: $0.location,
             record: QueueStorage.NewRecord(enqueuedAtMicros: $0.record.enqueuedAtMicros, attempts: $0.record.attempts,
                                            deadLetter: $0.record.deadLetter, payload: $0.record.payload),
             isPayloadLoaded: $0.isPayloadLoaded)
        })
        initial.segmentCount = recovered.storage.segments.count
        initial.nextSequence = recovered.storage.nextSequence
        self.state = Mutex(initial)
        let mailbox = QueueWorkerMailbox<QueueJob>()
        self.mailbox = mailbox
        let worker = QueueWorker(storage: recovered.storage, lock: lock)
        self.worker = worker
        try startQueueThread { [weak self] in
            worker.run(mailbox: mailbox) { self }
        }
    }

    // MARK: Enqueue

    /// Appends one message and returns its sequence number once it is durable.
    @discardableResult
    public func enqueue(_ payload: [UInt8]) async throws -> UInt64 {
        try await enqueue(batch: [payload])[0]
    }

    /// Appends messages in order (consecutive sequence numbers, one durable
    /// write) and returns their sequence numbers once they are durable.
    @discardableResult
    public func enqueue(batch payloads: [[UInt8]]) async throws -> [UInt64] {
        guard !payloads.isEmpty else { return [] }
        for payload in payloads where payload.count > options.maxPayloadBytes {
            throw StoreError(.limitExceeded, "payload of \(payload.count) bytes exceeds maxPayloadBytes \(options.maxPayloadBytes)")
        }
        let now = wallClockMicros()
        return try await append(payloads.map {
            QueueStorage.NewRecord(enqueuedAtMicros: now, attempts: 0, deadLetter: nil, payload: $0)
        })
    }

    /// Hands a job to the queue's thread, or — with `inPlace` (a job that
    /// does not `fdatasync`) and the thread idle — processes it on the calling
    /// thread: a `pwrite` into the page cache costs less than waking the
    /// queue's thread and being woken by it. A job that could start a
    /// segment roll or a consumer-state rewrite (they sync) goes to the
    /// queue's thread.
    /// Returns false if the queue is closed (the job not taken).
    func submit(_ job: QueueJob, inPlace: Bool) -> Bool {
        if inPlace && mailbox.runInPlaceIfIdle(job, { worker.processInPlace($0, queue: self) }) { return true }
        return mailbox.submit(job)
    }

    /// Hands records to the queue's thread (in place without `fdatasync`) and
    /// waits until they are durable and visible.
    func append(_ records: [QueueStorage.NewRecord]) async throws -> [UInt64] {
        try checkOpen()
        return try await withCheckedThrowingContinuation { continuation in
            if !submit(.enqueue(records, continuation), inPlace: options.sync == .none) {
                continuation.resume(throwing: StoreError(.closed, "the queue is closed", file: directory))
            }
        }
    }

    /// Reads payloads left on disk (in place when the queue's thread is idle).
    func readPayloads(_ locations: [QueueRecordLocation]) async throws -> [[UInt8]] {
        guard !locations.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            if !submit(.read(locations, continuation), inPlace: true) {
                continuation.resume(throwing: StoreError(.closed, "the queue is closed", file: directory))
            }
        }
    }

    /// Why the queue refuses enqueues and acks, or nil while it accepts them.
    /// Non-nil (code ``StoreError/Code/unavailable``) once a write or `fdatasync`
    /// of records or acks failed: the page cache can no longer be trusted, so the
    /// queue stays read-only until it is reopened, which recovers every
    /// acknowledged enqueue and ack. Receives of durable messages go on
    /// meanwhile. A failure to create a new file (the next segment, a new
    /// consumer-state snapshot) does not count: that work is retried later.
    public var writeRefusal: StoreError? { state.withLock { $0.failure } }

    /// The last failure of work the queue retries with backoff — creating the
    /// next segment, rewriting the consumer state (for example: too many open
    /// files, a full disk) — or nil once it succeeds. Enqueues and acks go on
    /// meanwhile (segments grow past `maxSegmentBytes`, the consumer state past
    /// `maxConsumerStateBytes`).
    public var backgroundFailure: StoreError? { state.withLock { $0.backgroundFailure } }

    /// Throws if the queue was closed or failed.
    func checkOpen() throws {
        try state.withLock { state in
            if let failure = state.failure { throw failure }
            if state.isClosed { throw StoreError(.closed, "the queue is closed", file: directory) }
        }
    }

    // MARK: Stats and close

    /// Depth, in-flight count, oldest unacked age, dead letters and totals, now.
    public var stats: QueueStats {
        let now = wallClockMicros()
        let deadLetters = deadLetterQueue?.stats.depth ?? 0
        let inPlaceJobs = mailbox.inPlaceCount
        return state.withLock { state in
            let oldest = state.oldestEnqueuedAtMicros()
            return QueueStats(depth: state.entries.count, inFlight: state.inFlightCount,
                              oldestUnackedAgeMicros: oldest.map { max(0, now - $0) } ?? 0,
                              deadLetters: deadLetters, enqueuedTotal: state.enqueuedTotal,
                              ackedTotal: state.ackedTotal, segments: state.segmentCount,
                              nextSequence: state.nextSequence, syncs: state.syncCount,
                              deadLetteredTotal: state.deadLetteredTotal, inPlaceJobs: inPlaceJobs,
                              redeliveredTotal: state.redeliveredTotal)
        }
    }

    /// Finishes pending writes, closes the files, releases the lock and closes
    /// the dead-letter queue. Waiting receivers get ``StoreError/Code/closed``.
    /// Unacked messages stay in the queue for the next open. After a failed
    /// write or sync it writes nothing: an enqueue reported failed is never
    /// made durable.
    public func close() async throws {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>]? in
            if state.isClosed { return nil }
            state.isClosed = true
            return state.takeWaiters()
        }
        guard let waiters else { return }
        for waiter in waiters { waiter.resume() }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            if !mailbox.submit(.close(continuation)) { continuation.resume() }
            mailbox.close()
        }
        try await deadLetterQueue?.close()
    }

    deinit {
        mailbox.close()
    }
}

/// Microseconds since the Unix epoch (wall clock: enqueue times are shown to people).
func wallClockMicros() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1_000
}
