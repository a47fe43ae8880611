import CoreMetrics
import Logging
import Synchronization

/// Delivers queued group messages to the inbox of every member.
///
/// `consumers` tasks each long-poll the fan-out queue for one message at a
/// time (``MessagingStorage/receiveGroupMessage(lease:wait:)``: woken by the
/// enqueue, no polling), then write its copies batch by batch
/// (``MessagingStorage/deliverGroupMessageBatch(_:maxMembers:)``: each batch
/// one atomic write with the message's cursor) and acknowledge it.
///
/// - **Leases fit the work**: before each batch, once a third of the lease
///   has passed, the consumer extends it, so a long fan-out is never received
///   by a second consumer while the first makes progress.
/// - **Nothing accepted is lost**: a transient failure (an unavailable store,
///   a full disk) is retried with backoff (``FanOutOptions/retryBackoff``
///   doubling to ``FanOutOptions/maxRetryBackoff``) under the same lease, for
///   as long as it takes. Only a permanent failure (``FanOutError`` `.permanent`:
///   a corrupt record, a bug) parks the message in the dead-letter queue,
///   logged as an error and counted (``statistics``); `msgstore queue redrive`
///   or `POST /admin/queues/fanout/redrive` brings it back.
/// - A crash or a stop mid-message leaves it unacknowledged: it is received
///   again and resumes after its cursor, so every member sees exactly one copy.
/// - **Waiting clients wake**: after each batch is written (durable and
///   readable), the ``notifier`` wakes the long polls and streams waiting on
///   the inboxes of that batch's members (``FanOutBatch/recipients``).
public final class FanOutWorker: Sendable {
    private let storage: any MessagingStorage
    private let options: FanOutOptions
    /// Told about every inbox a batch wrote a copy to.
    public let notifier: InboxNotifier?
    private let logger: Logger
    private let isStopping = Atomic<Bool>(false)
    private let runningTask = Mutex<Task<Void, Never>?>(nil)
    private let counters = Counters()
    /// From a group message's acceptance (its date, the `202`) to its last copy written and acknowledged.
    private let lagTimer: CoreMetrics.Timer

    private final class Counters: Sendable {
        let messages = Atomic<UInt64>(0)
        let copies = Atomic<UInt64>(0)
        let batches = Atomic<UInt64>(0)
        let retries = Atomic<UInt64>(0)
        let leaseExtensions = Atomic<UInt64>(0)
        let leasesLost = Atomic<UInt64>(0)
        let deadLettered = Atomic<UInt64>(0)
    }

    /// Creates a worker; call ``run()`` to start it. Pass the ``MessagingService``'s
    /// ``MessagingService/notifier`` as `notifier`, so that clients waiting on an
    /// inbox wake when a group copy reaches it. It records the fan-out lag of
    /// each message (acceptance to last copy) as the swift-metrics timer
    /// `msgstore_fanout_lag_seconds` through `metricsFactory` (default: the
    /// process's bootstrapped factory, if any).
    public init(
        storage: any MessagingStorage, options: FanOutOptions = FanOutOptions(), notifier: InboxNotifier? = nil, logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.storage = storage
        self.options = options
        self.notifier = notifier
        self.logger = logger
        self.lagTimer = CoreMetrics.Timer(label: "msgstore_fanout_lag_seconds", factory: metricsFactory ?? MetricsSystem.factory)
    }

    /// What the worker did since it was created.
    public var statistics: FanOutStatistics {
        FanOutStatistics(
            messagesDelivered: counters.messages.load(ordering: .relaxed),
            copiesWritten: counters.copies.load(ordering: .relaxed),
            batchesWritten: counters.batches.load(ordering: .relaxed),
            transientFailures: counters.retries.load(ordering: .relaxed),
            leaseExtensions: counters.leaseExtensions.load(ordering: .relaxed),
            leasesLost: counters.leasesLost.load(ordering: .relaxed),
            deadLettered: counters.deadLettered.load(ordering: .relaxed))
    }

    /// Asks every consumer to stop after its current batch; ``run()`` then
    /// returns. Idle consumers stop at once (their receive is cancelled). A
    /// message stopped mid-fan-out stays queued and is finished later.
    public func stop() {
        isStopping.store(true, ordering: .releasing)
        runningTask.withLock { $0 }?.cancel()
    }

    private var shouldStop: Bool {
        isStopping.load(ordering: .acquiring) || Task.isCancelled
    }

    /// Runs the consumers until ``stop()`` or cancellation.
    public func run() async {
        logger.debug("fan-out worker started", metadata: ["consumers": "\(options.consumers)"])
        let consumers = options.consumers
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                for consumer in 0..<consumers {
                    group.addTask { await self.consume(consumer) }
                }
            }
        }
        runningTask.withLock { $0 = task }
        if isStopping.load(ordering: .acquiring) { task.cancel() }
        await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
        logger.debug("fan-out worker stopped")
    }

    private func consume(_ consumer: Int) async {
        var backoff = options.retryBackoff
        while !shouldStop {
            do {
                guard let lease = try await storage.receiveGroupMessage(lease: options.lease, wait: options.receiveWait) else {
                    continue
                }
                backoff = options.retryBackoff
                await deliver(lease)
            } catch {
                if shouldStop { break }
                counters.retries.add(1, ordering: .relaxed)
                logger.warning("fan-out receive failed; retrying",
                               metadata: ["consumer": "\(consumer)", "error": "\(error)", "backoff": "\(backoff)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, options.maxRetryBackoff)
            }
        }
    }

    /// Fans one leased message out to the group's members, batch after batch,
    /// then acknowledges it. Returns true once acknowledged (or dead-lettered),
    /// false if it stopped first (the message stays queued) or lost the lease.
    @discardableResult
    public func deliver(_ received: GroupMessageLease) async -> Bool {
        var lease = received
        let clock = ContinuousClock()
        var renewedAt = clock.now
        var backoff = options.retryBackoff
        var written = 0
        let metadata: Logger.Metadata = [
            "messageId": "\(lease.message.messageID)", "groupId": "\(lease.message.groupID)",
            "attempt": "\(lease.deliveryAttempt)",
        ]
        while true {
            if shouldStop { return false }
            do {
                if clock.now - renewedAt >= options.lease / 3 {
                    lease = try await storage.extendGroupMessageLease(lease, by: options.lease)
                    renewedAt = clock.now
                    counters.leaseExtensions.add(1, ordering: .relaxed)
                }
                let batch = try await storage.deliverGroupMessageBatch(lease, maxMembers: options.membersPerBatch)
                if !batch.recipients.isEmpty { notifier?.notify(batch.recipients) }
                written += batch.copiesWritten
                counters.copies.add(UInt64(batch.copiesWritten), ordering: .relaxed)
                if batch.copiesWritten > 0 { counters.batches.add(1, ordering: .relaxed) }
                backoff = options.retryBackoff
                if batch.isComplete {
                    try await storage.acknowledgeGroupMessage(lease)
                    counters.messages.add(1, ordering: .relaxed)
                    lagTimer.recordMicroseconds(max(0, MessageDate.now().microsecondsSinceEpoch - lease.message.sentAt.microsecondsSinceEpoch))
                    logger.trace("group message delivered", metadata: metadata.merging(["written": "\(written)"]) { $1 })
                    return true
                }
            } catch let error as FanOutError where error.kind == .leaseLost {
                counters.leasesLost.add(1, ordering: .relaxed)
                logger.warning("fan-out lease lost; another consumer finishes the message",
                               metadata: metadata.merging(["error": "\(error.message)"]) { $1 })
                return false
            } catch let error as FanOutError where error.kind == .permanent {
                return await park(lease, reason: error.message, metadata: metadata)
            } catch {
                if shouldStop { return false }
                counters.retries.add(1, ordering: .relaxed)
                logger.warning("fan-out batch failed; retrying",
                               metadata: metadata.merging(["error": "\(error)", "backoff": "\(backoff)"]) { $1 })
                // Keep the lease while waiting: the next turn extends it if due.
                try? await Task.sleep(for: min(backoff, options.lease / 3))
                backoff = min(backoff * 2, options.maxRetryBackoff)
            }
        }
    }

    private static let parkedMessage = "group message cannot be delivered; moving it to the dead-letter queue "
        + "(inspect: msgstore queue list DIR --queue fanout; redrive: msgstore queue redrive DIR --queue fanout "
        + "or POST /admin/queues/fanout/redrive)"

    /// Moves a message that can never be delivered to the dead-letter queue
    /// (retrying that move while it fails transiently).
    private func park(_ lease: GroupMessageLease, reason: String, metadata: Logger.Metadata) async -> Bool {
        logger.error("\(Self.parkedMessage)",
                     metadata: metadata.merging(["reason": "\(reason)"]) { $1 })
        var backoff = options.retryBackoff
        while !shouldStop {
            do {
                try await storage.deadLetterGroupMessage(lease, reason: reason)
                counters.deadLettered.add(1, ordering: .relaxed)
                return true
            } catch {
                counters.retries.add(1, ordering: .relaxed)
                logger.warning("moving to the dead-letter queue failed; retrying",
                               metadata: metadata.merging(["error": "\(error)"]) { $1 })
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, options.maxRetryBackoff)
            }
        }
        return false
    }
}

/// Counters of a ``FanOutWorker``.
public struct FanOutStatistics: Hashable, Sendable {
    /// Group messages fully delivered and acknowledged.
    public var messagesDelivered: UInt64
    /// Inbox copies written.
    public var copiesWritten: UInt64
    /// Atomic batches that wrote copies.
    public var batchesWritten: UInt64
    /// Transient failures retried with backoff (receive, batch, ack).
    public var transientFailures: UInt64
    /// Leases extended during long fan-outs.
    public var leaseExtensions: UInt64
    /// Leases found taken over by another consumer (the message was left to it).
    public var leasesLost: UInt64
    /// Messages this worker moved to the dead-letter queue (permanent failures).
    public var deadLettered: UInt64
}
