import Logging
import Synchronization

/// Delivers queued group messages to the inbox of every member.
///
/// `consumers` tasks each lease one queued message at a time, read the group's
/// members *at delivery time*, write the copies in batches of
/// `membersPerBatch` (each batch one atomic write together with the message's
/// progress marker, see ``MessagingStorage/deliverGroupMessageCopies(_:to:)``)
/// and then acknowledge the message. A crash or a stop mid-message leaves it
/// leased and unacknowledged: when the lease expires it is received again and
/// the progress marker makes the redelivery skip members already done, so every
/// member sees exactly one copy.
public final class FanOutWorker: Sendable {
    private let storage: any MessagingStorage
    private let options: FanOutOptions
    private let logger: Logger
    private let doorbell = Doorbell()
    private let isStopping = Atomic<Bool>(false)

    /// Creates a worker; call ``run()`` to start it.
    public init(storage: any MessagingStorage, options: FanOutOptions = FanOutOptions(), logger: Logger) {
        self.storage = storage
        self.options = options
        self.logger = logger
    }

    /// Tells idle consumers that a message was queued.
    public func wake() {
        doorbell.ring()
    }

    /// Asks every consumer to stop after its current batch; ``run()`` then returns.
    /// A message stopped mid-fan-out stays queued and is finished after a restart.
    public func stop() {
        isStopping.store(true, ordering: .releasing)
        doorbell.ring()
    }

    private var shouldStop: Bool {
        isStopping.load(ordering: .acquiring) || Task.isCancelled
    }

    /// Runs the consumers until ``stop()`` or cancellation.
    public func run() async {
        logger.debug("fan-out worker started", metadata: ["consumers": "\(options.consumers)"])
        await withTaskGroup(of: Void.self) { group in
            for consumer in 0..<options.consumers {
                group.addTask { await self.consume(consumer) }
            }
        }
        logger.debug("fan-out worker stopped")
    }

    private func consume(_ consumer: Int) async {
        while !shouldStop {
            do {
                let leases = try await storage.receiveGroupMessages(limit: 1, lease: options.lease)
                if leases.isEmpty {
                    await doorbell.wait(timeout: options.idlePollInterval)
                    continue
                }
                for lease in leases {
                    try await deliver(lease)
                }
            } catch {
                if shouldStop { break }
                logger.error("fan-out failed; retrying", metadata: ["consumer": "\(consumer)", "error": "\(error)"])
                await doorbell.wait(timeout: options.idlePollInterval)
            }
        }
    }

    /// Fans one leased message out to the group's current members, then
    /// acknowledges it. Returns false (without acknowledging) if the worker was
    /// asked to stop in between batches.
    @discardableResult
    public func deliver(_ lease: GroupMessageLease) async throws -> Bool {
        let message = lease.message
        let members = try await storage.members(of: message.groupID)
        var written = 0
        var start = 0
        while start < members.count {
            if start > 0 && isStopping.load(ordering: .acquiring) { return false }
            let batch = Array(members[start..<min(members.count, start + options.membersPerBatch)])
            written += try await storage.deliverGroupMessageCopies(message, to: batch)
            start += batch.count
        }
        try await storage.acknowledgeGroupMessage(message)
        logger.trace(
            "group message delivered",
            metadata: [
                "messageId": "\(message.messageID)", "members": "\(members.count)", "written": "\(written)",
                "attempt": "\(lease.deliveryAttempt)",
            ])
        return true
    }
}
