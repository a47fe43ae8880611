#if canImport(Glibc)
import Glibc
#endif

/// A job queue drained by one dedicated OS thread, so that the queue's file
/// I/O and `fdatasync` never run on Swift's cooperative thread pool.
///
/// Producers call ``submit(_:)`` from any thread (it never blocks on I/O);
/// the worker thread calls ``takeAll()``, which sleeps on a condition
/// variable until work arrives, and gets every waiting job at once — which is
/// what makes group commit: all jobs that queued up during one `fdatasync`
/// share the next one.
///
/// A caller may instead run a job that cannot block for long *in place*
/// (``runInPlaceIfIdle(_:_:)``) when the worker is idle: the job is processed
/// on the caller's thread exactly as the worker would, two thread switches
/// cheaper than waking it. Jobs are processed by one thread at a time:
/// `workerBusy` (the worker holds a batch it took) and `inPlaceBusy` (a
/// caller is running one) are never both set, and the worker takes nothing
/// while a caller runs one.
///
/// The pthread mutex and condition live in this one type (the only unsafe
/// pointers of the queue), hence `@unchecked Sendable`: every access to
/// `jobs`/`isClosed`/`workerBusy`/`inPlaceBusy` holds `mutex`.
final class QueueWorkerMailbox<Job>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: [Job] = []
    private var isClosed = false
    /// The worker took a batch and has not come back for the next.
    private var workerBusy = false
    /// A caller is processing a job in place.
    private var inPlaceBusy = false
    private var inPlaceRuns: UInt64 = 0

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Adds a job and wakes the worker. Returns false (job not taken) after ``close()``.
    func submit(_ job: Job) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard !isClosed else { return false }
        jobs.append(job)
        pthread_cond_signal(condition)
        return true
    }

    /// Jobs run in place so far.
    var inPlaceCount: UInt64 {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return inPlaceRuns
    }

    /// Jobs submitted and not yet taken by the worker (tests use it to line jobs up in one batch).
    var pendingCount: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return jobs.count
    }

    /// Refuses further jobs; ``takeAll()`` returns the remaining ones, then `nil`.
    func close() {
        pthread_mutex_lock(mutex)
        isClosed = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Runs `process(job)` on the calling thread if the worker is idle, no job
    /// waits and the mailbox is open; returns false (the job not taken) if
    /// not, or if `process` declined it (returned false, having done nothing).
    func runInPlaceIfIdle(_ job: Job, _ process: (Job) -> Bool) -> Bool {
        pthread_mutex_lock(mutex)
        guard !workerBusy, !inPlaceBusy, jobs.isEmpty, !isClosed else {
            pthread_mutex_unlock(mutex)
            return false
        }
        inPlaceBusy = true
        pthread_mutex_unlock(mutex)
        let processed = process(job)
        pthread_mutex_lock(mutex)
        if processed { inPlaceRuns += 1 }
        inPlaceBusy = false
        if !jobs.isEmpty || isClosed { pthread_cond_signal(condition) }  // the worker waited for this one
        pthread_mutex_unlock(mutex)
        return processed
    }

    /// Blocks until jobs arrive (and no caller is running one in place) and
    /// returns all of them in submission order; `nil` once closed and drained.
    /// Called by the worker only; a call means its previous batch is done.
    func takeAll() -> [Job]? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        workerBusy = false
        while inPlaceBusy || (jobs.isEmpty && !isClosed) {
            pthread_cond_wait(condition, mutex)
        }
        if jobs.isEmpty { return nil }
        workerBusy = true
        let taken = jobs
        jobs.removeAll(keepingCapacity: true)
        return taken
    }
}

/// Starts a detached OS thread running `body`.
func startQueueThread(_ body: @escaping @Sendable () -> Void) throws {
    final class Box { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        setCurrentThreadName("msgstore-queue")
        box.body()
        return nil
    }, context)
    guard result == 0 else {
        Unmanaged<Box>.fromOpaque(context).release()
        throw StoreError.io("pthread_create", file: nil, errno: result)
    }
    pthread_detach(thread)
}
