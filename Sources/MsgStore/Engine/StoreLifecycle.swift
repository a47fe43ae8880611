import Synchronization

/// Whether the store is closed, and the durable queues opened on it.
///
/// `closed` is an atomic set once by ``markClosed()``; `queues` is under its
/// own mutex, held while a queue opens (so that no queue opens after
/// ``takeQueues()``); no engine lock is taken while it is held.
final class StoreLifecycle: Sendable {
    private let closed = Atomic<Bool>(false)
    private let queues = Mutex<[String: DurableQueue]>([:])

    /// Marks the store closed; false if it already was.
    func markClosed() -> Bool { !closed.exchange(true, ordering: .acquiringAndReleasing) }

    /// Whether ``markClosed()`` was called.
    var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// The open queue `name`, or the one `open` opens (recorded). Throws
    /// `.closed` once the store is closed.
    func queue(named name: String, open: () throws -> DurableQueue) throws -> DurableQueue {
        try queues.withLock { queues in
            if isClosed { throw StoreError(.closed, "the store is closed") }
            if let queue = queues[name] { return queue }
            let queue = try open()
            queues[name] = queue
            return queue
        }
    }

    /// Counters of every open queue.
    var queueStatistics: [String: QueueStats] { queues.withLock { $0.mapValues(\.stats) } }

    /// Removes and returns every open queue (to close them).
    func takeQueues() -> [DurableQueue] {
        queues.withLock { queues in
            defer { queues.removeAll() }
            return Array(queues.values)
        }
    }
}
