#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex with one condition variable, for the engine's own threads
/// (the commit leader, the log thread, background workers) to wait on.
///
/// `Synchronization.Mutex` has no condition variable; this type fences the
/// pthread calls in one place. Invariant: `mutex` and `condition` are
/// initialized in `init`, destroyed only in `deinit`, and never move (they
/// live in their own heap allocations).
/// Never wait on it from Swift's cooperative thread pool.
final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = makeMonotonicCondition()
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    /// Runs `body` with the mutex held.
    @inline(__always)
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits for a broadcast. REQUIRES: the mutex is held.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits for a broadcast or until `seconds` pass. REQUIRES: the mutex is held.
    /// Returns false on time-out.
    @discardableResult
    func wait(seconds: Double) -> Bool { wait(on: condition, seconds: seconds) }

    fileprivate func wait(on condition: UnsafeMutablePointer<pthread_cond_t>, seconds: Double) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanos = Int(now.tv_nsec) + Int((seconds - seconds.rounded(.down)) * 1e9)
        var deadline = timespec()
        deadline.tv_sec = now.tv_sec + Int(seconds) + nanos / 1_000_000_000
        deadline.tv_nsec = nanos % 1_000_000_000
        return pthread_cond_timedwait(condition, mutex, &deadline) == 0
    }

    /// Wakes every waiter.
    func broadcast() { pthread_cond_broadcast(condition) }

    fileprivate func wait(on other: UnsafeMutablePointer<pthread_cond_t>) { pthread_cond_wait(other, mutex) }

    /// Wakes one waiter.
    func signal() { pthread_cond_signal(condition) }
}

/// A heap-allocated condition variable whose timed waits use
/// `CLOCK_MONOTONIC` (a wall-clock jump neither shortens nor stretches them).
/// The caller destroys and deallocates it.
private func makeMonotonicCondition() -> UnsafeMutablePointer<pthread_cond_t> {
    let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    condition.initialize(to: pthread_cond_t())
    var attributes = pthread_condattr_t()
    pthread_condattr_init(&attributes)
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
    pthread_cond_init(condition, &attributes)
    pthread_condattr_destroy(&attributes)
    return condition
}

/// A second condition variable on a ``ConditionLock``'s mutex, so that one
/// set of waiters (a background thread) is not woken by broadcasts meant for
/// another (foreground writers).
final class LockCondition: @unchecked Sendable {
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private let lock: ConditionLock

    init(_ lock: ConditionLock) {
        self.lock = lock
        condition = makeMonotonicCondition()
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    /// Waits for a signal. REQUIRES: `lock` is held.
    func wait() { lock.wait(on: condition) }
    /// Waits for a signal or until `seconds` pass; false on time-out. REQUIRES: `lock` is held.
    @discardableResult
    func wait(seconds: Double) -> Bool { lock.wait(on: condition, seconds: seconds) }
    /// Wakes every waiter.
    func broadcast() { pthread_cond_broadcast(condition) }
}

/// Starts a detached OS thread (not part of Swift's cooperative pool) running
/// `body`, named `name` (its first 15 bytes on Linux).
func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        let name: String
        init(_ body: @escaping @Sendable () -> Void, name: String) { self.body = body; self.name = name }
    }
    let box = Unmanaged.passRetained(Box(body, name: name)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue() as! Box
        setCurrentThreadName(box.name)
        box.body()
        return nil
    }, box)
    precondition(result == 0, "pthread_create failed: \(result)")
    pthread_detach(thread)
}

/// Names the calling thread (shown by `top -H`, `perf` and `gdb`; Linux keeps
/// the first 15 bytes). `pthread_setname_np` is a GNU extension that Swift's
/// Glibc module does not export, so it is looked up at run time; where it is
/// missing this does nothing.
func setCurrentThreadName(_ name: String) {
    #if os(Linux)
    typealias SetName = @convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32
    guard let symbol = dlsym(nil, "pthread_setname_np") else { return }
    let setName = unsafeBitCast(symbol, to: SetName.self)
    _ = String(decoding: name.utf8.prefix(15), as: UTF8.self).withCString { setName(pthread_self(), $0) }
    #endif
}
