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
/// The pthread mutex and condition live in this one type (the only unsafe
/// pointers of the queue), hence `@unchecked Sendable`: every access to
/// `jobs`/`isClosed` holds `mutex`.
final class QueueWorkerMailbox<Job>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: [Job] = []
    private var isClosed = false

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

    /// Blocks until jobs arrive and returns all of them in submission order;
    /// `nil` once closed and drained.
    func takeAll() -> [Job]? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while jobs.isEmpty && !isClosed {
            pthread_cond_wait(condition, mutex)
        }
        if jobs.isEmpty { return nil }
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
        box.body()
        return nil
    }, context)
    guard result == 0 else {
        Unmanaged<Box>.fromOpaque(context).release()
        throw StoreError.io("pthread_create", file: nil, errno: result)
    }
    pthread_detach(thread)
}
