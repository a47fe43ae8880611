import Messaging
import Synchronization
import Testing

/// The notifier on its own: generations, deadlines, the waiter limit, shutdown, cancellation.
@Suite struct InboxNotifierTests {
    private func later(_ duration: Duration) -> ContinuousClock.Instant { ContinuousClock.now.advanced(by: duration) }

    /// The rule that prevents lost wake-ups: a notification between subscribing
    /// (or the last wake-up) and the wait makes the wait return at once.
    @Test func notificationBeforeTheWaitIsNotLost() async throws {
        let notifier = InboxNotifier()
        let alice = UserID.random()
        let subscription = try notifier.subscribe(to: alice)
        notifier.notify(alice)
        let start = ContinuousClock.now
        #expect(await subscription.wait(until: later(.seconds(5))) == .notified)
        #expect(ContinuousClock.now - start < .seconds(1))
        // Seen now: the next wait waits.
        #expect(await subscription.wait(until: later(.milliseconds(30))) == .timedOut)
    }

    @Test func waitWakesOnANotificationOfItsInboxOnly() async throws {
        let notifier = InboxNotifier()
        let alice = UserID.random(), bob = UserID.random()
        let subscription = try notifier.subscribe(to: alice)
        let start = ContinuousClock.now
        let waiting = Task { await subscription.wait(until: later(.seconds(10))) }
        try await Task.sleep(for: .milliseconds(50))
        notifier.notify(bob)
        try await Task.sleep(for: .milliseconds(50))
        notifier.notify([bob, alice])
        #expect(await waiting.value == .notified)
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(100) && elapsed < .seconds(5), "woken by alice's notification, not bob's: \(elapsed)")
    }

    @Test func waitTimesOut() async throws {
        let notifier = InboxNotifier()
        let subscription = try notifier.subscribe(to: .random())
        let start = ContinuousClock.now
        #expect(await subscription.wait(until: later(.milliseconds(100))) == .timedOut)
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(100) && elapsed < .seconds(5))
    }

    @Test func limitRefusesOneMoreSubscriptionUntilOneEnds() throws {
        let notifier = InboxNotifier(maxWaiters: 2)
        let alice = UserID.random()
        let first = try notifier.subscribe(to: alice)
        let second = try notifier.subscribe(to: .random())
        #expect(notifier.waiterCount == 2)
        #expect(throws: InboxWaiterLimitError(limit: 2)) { _ = try notifier.subscribe(to: alice) }
        first.cancel()
        first.cancel()  // idempotent
        #expect(notifier.waiterCount == 1)
        let third = try notifier.subscribe(to: alice)
        withExtendedLifetime((second, third)) {}
    }

    @Test func releasedSubscriptionFreesItsSlot() throws {
        let notifier = InboxNotifier(maxWaiters: 1)
        do { _ = try notifier.subscribe(to: .random()) }
        #expect(notifier.waiterCount == 0)
        _ = try notifier.subscribe(to: .random())
    }

    @Test func shutDownWakesEveryWaiterAndLaterWaitsReturnAtOnce() async throws {
        let notifier = InboxNotifier()
        let users = (0..<5).map { _ in UserID.random() }
        let subscriptions = try users.map { try notifier.subscribe(to: $0) } + [try notifier.subscribe(to: users[0])]
        let start = ContinuousClock.now
        let reasons = await withTaskGroup(of: InboxWakeReason.self) { group in
            for subscription in subscriptions {
                group.addTask { await subscription.wait(until: ContinuousClock.now.advanced(by: .seconds(30))) }
            }
            try? await Task.sleep(for: .milliseconds(50))
            notifier.shutDown()
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(reasons == Array(repeating: .shutDown, count: subscriptions.count))
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(await subscriptions[0].wait(until: later(.seconds(30))) == .shutDown)
        #expect(try await notifier.subscribe(to: users[1]).wait(until: later(.seconds(30))) == .shutDown)
    }

    @Test func cancellingTheTaskOrTheSubscriptionEndsTheWait() async throws {
        let notifier = InboxNotifier()
        let subscription = try notifier.subscribe(to: .random())
        let waiting = Task { await subscription.wait(until: ContinuousClock.now.advanced(by: .seconds(30))) }
        try await Task.sleep(for: .milliseconds(30))
        waiting.cancel()
        #expect(await waiting.value == .cancelled)

        let other = try notifier.subscribe(to: .random())
        let waitingOther = Task { await other.wait(until: ContinuousClock.now.advanced(by: .seconds(30))) }
        try await Task.sleep(for: .milliseconds(30))
        other.cancel()
        #expect(await waitingOther.value == .cancelled)
        #expect(notifier.waiterCount == 1)
    }

    /// Many rounds of a "write then notify" racing a "subscribe, read, wait":
    /// the waiter always learns of the write, by its read or by a wake-up, and
    /// never sits out its deadline.
    @Test func noLostWakeUpWhenWritesRaceWaiters() async throws {
        final class Counter: Sendable { let value = Atomic<Int>(0) }
        let notifier = InboxNotifier()
        let users = (0..<16).map { _ in UserID.random() }
        let written = users.map { _ in Counter() }
        let rounds = 200
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for (user, counter) in zip(users, written) {
                group.addTask {
                    for round in 1...rounds {
                        guard let subscription = try? notifier.subscribe(to: user) else { return }
                        while counter.value.load(ordering: .acquiring) < round {
                            let reason = await subscription.wait(until: ContinuousClock.now.advanced(by: .seconds(5)))
                            #expect(reason == .notified, "round \(round): a write was lost")
                            if reason != .notified { return }
                        }
                        subscription.cancel()
                    }
                }
                group.addTask {
                    for _ in 1...rounds {
                        if Bool.random() { await Task.yield() }
                        counter.value.add(1, ordering: .releasing)
                        notifier.notify(user)
                    }
                }
            }
        }
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(notifier.waiterCount == 0)
    }
}
