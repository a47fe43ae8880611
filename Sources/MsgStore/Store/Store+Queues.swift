import Synchronization

#if canImport(Dispatch)
import Dispatch
#endif

/// The store's durable queues (`queues/NAME/` in the data directory).
extension Store {
    /// Opens — or returns, if already open — the durable queue `name` of this
    /// store, kept in `queues/NAME/` of the data directory. The store closes it
    /// when it closes.
    ///
    /// - Parameters:
    ///   - name: letters, digits, `.`, `_` and `-`; at most 64 characters.
    ///   - options: the queue's bounds and durability; used when the queue is first opened.
    /// - Throws: `.invalidArgument` for a bad name, `.closed` after `close()`,
    ///   or what ``DurableQueue/open(directory:fileSystem:options:)`` throws.
    public func queue(named name: String, options: QueueOptions = QueueOptions()) throws -> DurableQueue {
        guard !name.isEmpty, name.count <= 64, !name.hasPrefix("."),
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") })
        else {
            throw StoreError(.invalidArgument, "queue name \"\(name)\": use 1-64 letters, digits, '.', '_' or '-'")
        }
        return try engine.lifecycle.queue(named: name) {
            let directory = DurableQueue.directory(forQueue: name, inDataDirectory: engine.directory)
            try engine.fileSystem.createDirectory(directory)
            return try DurableQueue.open(directory: directory, fileSystem: engine.fileSystem, options: options,
                                         testHooks: engine.testHooks)
        }
    }

    /// Counters of every queue opened through ``queue(named:options:)``: depth,
    /// in flight, oldest unacked age, dead letters, enqueued and acked totals.
    public var queueStatistics: [String: QueueStats] {
        engine.lifecycle.queueStatistics
    }

    /// Closes the store's queues, then the store (see ``close()``). Prefer this
    /// in async code.
    public func close() async throws {
        for queue in engine.lifecycle.takeQueues() { try await queue.close() }
        try engine.close()
    }
}

extension Engine {
    /// Closes the open queues from a synchronous `close()`: each queue's own
    /// thread finishes its writes; this thread waits for it.
    func closeQueuesBlocking() throws {
        let queues = lifecycle.takeQueues()
        guard !queues.isEmpty else { return }
        final class Outcome: @unchecked Sendable { var error: (any Error)? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            for queue in queues {
                do { try await queue.close() } catch { outcome.error = outcome.error ?? error }
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw error }
    }
}
