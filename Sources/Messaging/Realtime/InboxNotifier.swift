import Synchronization

/// Wakes clients that wait for new messages in an inbox: long polls and event
/// streams.
///
/// The notifier carries no messages. It only tells a waiter "something was
/// delivered to this inbox"; the waiter then reads the inbox after the last
/// date it has, exactly as a polling client does, so that a woken client sees
/// what polling would see, with no gap and no repeat.
///
/// ## Use
/// ```swift
/// let subscription = try notifier.subscribe(to: recipient)  // before reading
/// defer { subscription.cancel() }
/// while true {
///     let page = try await read(after: cursor)
///     if !page.isEmpty { return page }
///     guard await subscription.wait(until: deadline) == .notified else { return page }
/// }
/// ```
///
/// **No lost wake-up.** Each inbox with subscribers has a generation counter,
/// raised by every ``notify(_:)`` of it. A subscription remembers the
/// generation it has seen (the one at ``subscribe(to:)``, then the one at each
/// wake-up); ``InboxSubscription/wait(until:)`` returns at once when the
/// counter moved past it. A delivery that completes between the subscription
/// (or the last wake-up) and the next read is therefore either seen by that
/// read or wakes the next wait. The rule: subscribe **before** reading.
///
/// **Bounded.** At most ``maxWaiters`` subscriptions exist at once; one more
/// throws ``InboxWaiterLimitError``.
///
/// **Shutdown.** ``shutDown()`` wakes every waiter with ``InboxWakeReason/shutDown``;
/// later waits return that at once.
///
/// Thread-safe: one `Synchronization.Mutex` over the table of inboxes; no
/// work is done under it beyond dictionary updates, and continuations are
/// resumed after it is released.
public final class InboxNotifier: Sendable {
    /// The most subscriptions that may exist at once.
    public let maxWaiters: Int

    /// The default of ``maxWaiters``: 10,000.
    public static let defaultMaxWaiters = 10_000

    private struct Inbox {
        /// Raised by every notification of this inbox.
        var generation: UInt64 = 0
        /// Subscriptions of this inbox, by id (the entry exists while there are any).
        var subscribers: Set<UInt64> = []
        /// Subscriptions suspended in a wait, by id.
        var suspended: [UInt64: CheckedContinuation<InboxWakeReason, Never>] = [:]
    }

    private struct State {
        var inboxes: [UserID: Inbox] = [:]
        var subscriptions = 0
        var nextID: UInt64 = 0
        var isShutDown = false
    }

    private let state = Mutex(State())

    /// Creates a notifier that admits at most `maxWaiters` subscriptions at once.
    public init(maxWaiters: Int = InboxNotifier.defaultMaxWaiters) {
        precondition(maxWaiters >= 0)
        self.maxWaiters = maxWaiters
    }

    /// Subscriptions that exist now (waiting or reading).
    public var waiterCount: Int { state.withLock { $0.subscriptions } }

    /// Whether ``shutDown()`` was called.
    public var isShutDown: Bool { state.withLock { $0.isShutDown } }

    /// Registers interest in `recipient`'s inbox. Call it **before** reading
    /// the inbox, then ``InboxSubscription/wait(until:)`` whenever the read
    /// found nothing new; ``InboxSubscription/cancel()`` it when done (it also
    /// cancels itself when released).
    ///
    /// After ``shutDown()`` this still succeeds, and every wait of the
    /// subscription returns ``InboxWakeReason/shutDown`` at once.
    /// - Throws: ``InboxWaiterLimitError`` when ``maxWaiters`` subscriptions exist.
    public func subscribe(to recipient: UserID) throws(InboxWaiterLimitError) -> InboxSubscription {
        let registered: (UInt64, UInt64)? = state.withLock { state in
            guard state.subscriptions < maxWaiters else { return nil }
            state.subscriptions += 1
            let id = state.nextID
            state.nextID += 1
            var inbox = state.inboxes[recipient] ?? Inbox()
            inbox.subscribers.insert(id)
            state.inboxes[recipient] = inbox
            return (id, inbox.generation)
        }
        guard let (id, generation) = registered else { throw InboxWaiterLimitError(limit: maxWaiters) }
        return InboxSubscription(notifier: self, recipient: recipient, id: id, generation: generation)
    }

    /// Tells the waiters of `recipient` that something was delivered to it.
    /// Call it once the delivery is durable and readable. Cheap when nobody waits.
    public func notify(_ recipient: UserID) {
        notify(CollectionOfOne(recipient))
    }

    /// Tells the waiters of every inbox in `recipients` that something was
    /// delivered to it (one lock for the whole batch).
    public func notify(_ recipients: some Sequence<UserID>) {
        let woken: [CheckedContinuation<InboxWakeReason, Never>] = state.withLock { state in
            guard !state.inboxes.isEmpty else { return [] }
            var woken: [CheckedContinuation<InboxWakeReason, Never>] = []
            for recipient in recipients {
                guard var inbox = state.inboxes[recipient] else { continue }
                inbox.generation &+= 1
                woken.append(contentsOf: inbox.suspended.values)
                inbox.suspended.removeAll()
                state.inboxes[recipient] = inbox
            }
            return woken
        }
        for continuation in woken { continuation.resume(returning: .notified) }
    }

    /// Wakes every waiter with ``InboxWakeReason/shutDown``; from now on every
    /// wait returns that at once. For a server's graceful shutdown: long polls
    /// answer and streams end instead of holding the drain up. Idempotent.
    public func shutDown() {
        let woken: [CheckedContinuation<InboxWakeReason, Never>] = state.withLock { state in
            state.isShutDown = true
            var woken: [CheckedContinuation<InboxWakeReason, Never>] = []
            for (recipient, var inbox) in state.inboxes where !inbox.suspended.isEmpty {
                woken.append(contentsOf: inbox.suspended.values)
                inbox.suspended.removeAll()
                state.inboxes[recipient] = inbox
            }
            return woken
        }
        for continuation in woken { continuation.resume(returning: .shutDown) }
    }

    // MARK: For InboxSubscription

    /// Suspends subscription `id` unless the inbox moved past `generation`, the
    /// notifier is shut down, `deadline` passed, or the task is cancelled.
    /// Returns why it returned, and (after ``InboxWakeReason/notified``) the
    /// generation the caller has now seen.
    fileprivate func suspend(
        _ recipient: UserID, id: UInt64, seen generation: UInt64, deadline: ContinuousClock.Instant
    ) async -> (InboxWakeReason, UInt64) {
        let reason = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<InboxWakeReason, Never>) in
                let immediate: InboxWakeReason? = state.withLock { state in
                    if state.isShutDown { return .shutDown }
                    guard var inbox = state.inboxes[recipient], inbox.subscribers.contains(id) else { return .cancelled }
                    if inbox.generation != generation { return .notified }
                    // Both checked under the lock: a cancellation handler or a timer that
                    // ran before this point has set the flag or passed the deadline; one
                    // that runs after finds the continuation.
                    if Task.isCancelled { return .cancelled }
                    if ContinuousClock.now >= deadline { return .timedOut }
                    inbox.suspended[id] = continuation
                    state.inboxes[recipient] = inbox
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            resume(recipient, id: id, with: .cancelled)
        }
        guard reason == .notified else { return (reason, generation) }
        return (reason, state.withLock { $0.inboxes[recipient]?.generation ?? generation })
    }

    /// Resumes subscription `id` with `reason` if it is suspended.
    fileprivate func resume(_ recipient: UserID, id: UInt64, with reason: InboxWakeReason) {
        let continuation = state.withLock { state -> CheckedContinuation<InboxWakeReason, Never>? in
            guard var inbox = state.inboxes[recipient], let continuation = inbox.suspended.removeValue(forKey: id) else {
                return nil
            }
            state.inboxes[recipient] = inbox
            return continuation
        }
        continuation?.resume(returning: reason)
    }

    /// The generation of `recipient`'s inbox now.
    fileprivate func generation(of recipient: UserID) -> UInt64? {
        state.withLock { $0.inboxes[recipient]?.generation }
    }

    /// Ends subscription `id` (once).
    fileprivate func unsubscribe(_ recipient: UserID, id: UInt64) {
        let continuation = state.withLock { state -> CheckedContinuation<InboxWakeReason, Never>? in
            state.subscriptions -= 1
            guard var inbox = state.inboxes[recipient] else { return nil }
            let continuation = inbox.suspended.removeValue(forKey: id)
            inbox.subscribers.remove(id)
            state.inboxes[recipient] = inbox.subscribers.isEmpty ? nil : inbox
            return continuation
        }
        continuation?.resume(returning: .cancelled)
    }
}

/// Why ``InboxSubscription/wait(until:)`` returned.
public enum InboxWakeReason: Hashable, Sendable {
    /// Something was delivered to the inbox since the subscription last
    /// looked: read it.
    case notified
    /// The deadline passed with no delivery.
    case timedOut
    /// The notifier was shut down (the server is stopping): stop waiting.
    case shutDown
    /// The waiting task was cancelled, or the subscription cancelled.
    case cancelled
}

/// Thrown by ``InboxNotifier/subscribe(to:)`` when ``InboxNotifier/maxWaiters``
/// subscriptions exist already: the client should retry later.
public struct InboxWaiterLimitError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The limit that was reached.
    public var limit: Int

    /// Creates the error.
    public init(limit: Int) { self.limit = limit }

    /// The sentence a client sees with the `503`.
    public var description: String {
        "\(limit) clients are already waiting for messages, the most this server allows; retry later."
    }
}

/// One client's interest in one inbox, from ``InboxNotifier/subscribe(to:)``
/// until ``cancel()`` (or its release). Counts toward
/// ``InboxNotifier/maxWaiters`` for its whole life, waiting or not.
///
/// Used by one task at a time: waits of one subscription do not overlap.
public final class InboxSubscription: Sendable {
    /// The inbox it watches.
    public let recipient: UserID
    private let notifier: InboxNotifier
    private let id: UInt64
    /// The generation seen; nil once cancelled.
    private let seen: Mutex<UInt64?>

    fileprivate init(notifier: InboxNotifier, recipient: UserID, id: UInt64, generation: UInt64) {
        self.notifier = notifier
        self.recipient = recipient
        self.id = id
        self.seen = Mutex(generation)
    }

    deinit { cancel() }

    /// Waits until something is delivered to the inbox after the subscription
    /// was made or the previous wait returned, until `deadline`, until the
    /// notifier shuts down, or until the task is cancelled, whichever comes
    /// first. Returns at once if a delivery already happened in between.
    /// After ``InboxWakeReason/notified``, read the inbox again.
    public func wait(until deadline: ContinuousClock.Instant) async -> InboxWakeReason {
        guard let generation = seen.withLock({ $0 }) else { return .cancelled }
        if notifier.isShutDown { return .shutDown }
        if let now = notifier.generation(of: recipient), now != generation {
            seen.withLock { if $0 != nil { $0 = now } }
            return .notified
        }
        if Task.isCancelled { return .cancelled }
        if ContinuousClock.now >= deadline { return .timedOut }
        let notifier = self.notifier, recipient = self.recipient, id = self.id
        let (reason, generationNow) = await withTaskGroup(of: (InboxWakeReason, UInt64)?.self) { group in
            group.addTask {
                await notifier.suspend(recipient, id: id, seen: generation, deadline: deadline)
            }
            group.addTask {
                // Cancelled (by the other child's return or the caller's cancellation): nil.
                do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return nil }
                notifier.resume(recipient, id: id, with: .timedOut)
                return nil
            }
            var result: (InboxWakeReason, UInt64)?
            for await value in group {
                if let value {
                    result = value
                    group.cancelAll()
                }
            }
            return result ?? (.cancelled, generation)
        }
        seen.withLock { if $0 != nil { $0 = generationNow } }
        return reason
    }

    /// Ends the subscription (idempotent): a wait in progress returns
    /// ``InboxWakeReason/cancelled`` and the waiter slot is freed.
    public func cancel() {
        let wasActive = seen.withLock { seen -> Bool in
            defer { seen = nil }
            return seen != nil
        }
        if wasActive { notifier.unsubscribe(recipient, id: id) }
    }
}
