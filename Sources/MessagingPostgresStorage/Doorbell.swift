import Synchronization

/// Wakes fan-out receivers waiting in a long poll: rung by a NOTIFY from any
/// server (the listener), by this server's own enqueues and redrives, and at
/// close. A receiver reads ``generation`` before it looks at the queue and
/// waits only if no ring came since, so a ring between its look and its wait
/// is never missed.
final class Doorbell: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextID: UInt64 = 1
        var isClosed = false
    }

    private let state = Mutex(State())

    /// Changes at every ring.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Wakes every waiter.
    func ring() {
        let waiters = state.withLock { state in
            state.generation &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Wakes every waiter and makes later waits return at once.
    func close() {
        state.withLock { $0.isClosed = true }
        ring()
    }

    /// Suspends until a ring after `generation`, `deadline`, or cancellation.
    func wait(from generation: UInt64, until deadline: ContinuousClock.Instant) async {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        var timer: Task<Void, Never>?
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let registered = state.withLock { state -> Bool in
                    guard state.generation == generation, !state.isClosed, !Task.isCancelled else { return false }
                    state.waiters[id] = continuation
                    return true
                }
                guard registered else {
                    continuation.resume()
                    return
                }
                timer = Task { [weak self] in
                    try? await Task.sleep(until: deadline, clock: .continuous)
                    self?.wake(id)
                }
            }
        } onCancel: {
            wake(id)
        }
        timer?.cancel()
    }

    private func wake(_ id: UInt64) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
    }
}
