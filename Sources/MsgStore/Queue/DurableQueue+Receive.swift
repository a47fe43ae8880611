import Synchronization

extension DurableQueue {
    /// Leases up to `max` visible messages, oldest sequence first, for
    /// `visibilityTimeout`; unacked by then, a message becomes visible again
    /// with `attempt + 1` (or, past ``QueueOptions/maxAttempts``, moves to the
    /// dead-letter queue).
    ///
    /// **Long poll**: when nothing is visible, waits up to `waitTimeout` for an
    /// enqueue (or a lease expiry) — suspended, woken by the enqueue, no
    /// polling — and returns an empty array if nothing came.
    /// Throws ``StoreError/Code/closed`` once the queue is closed. When it
    /// throws, nothing was handed out: the messages it had leased are visible
    /// again, their delivery not counted. A read-only queue (see
    /// ``writeRefusal``) still delivers; messages past `maxAttempts` then wait,
    /// undelivered, for the queue to be reopened (moving them takes a write).
    public func receive(max: Int = 1, visibilityTimeout: Duration = .seconds(30),
                        waitTimeout: Duration = .zero) async throws -> [QueueMessage] {
        guard max >= 1, max <= options.maxReceiveCount else {
            throw StoreError(.invalidArgument, "receive max must be in 1...\(options.maxReceiveCount)")
        }
        let clock = ContinuousClock()
        let waitDeadline = clock.now.advanced(by: waitTimeout)
        while true {
            try Task.checkCancellation()
            let now = clock.now
            let maxAttempts = options.maxAttempts
            var (messages, exhausted, generation, leaseDeadline, waiters, unloaded) = try state.withLock { state in
                if state.isClosed { throw StoreError(.closed, "the queue is closed", file: directory) }
                var exhausted = state.expireLeases(now: now, maxAttempts: maxAttempts)
                var unloaded: [(index: Int, location: QueueRecordLocation)] = []
                let messages = state.lease(count: max, deadline: now.advanced(by: visibilityTimeout),
                                           maxAttempts: maxAttempts, exhausted: &exhausted, unloaded: &unloaded)
                // Receivers already waiting chose their wake-up time before these leases existed:
                // wake them to include the new deadlines (a lease that expires makes a message visible).
                let waiters = messages.isEmpty ? [] : state.takeWaiters()
                // Read-only: no move can be written. The exhausted messages stay marked moving
                // (not delivered again) until the queue is reopened.
                if state.failure != nil { exhausted = [] }
                return (messages, exhausted, state.generation, state.nextLeaseDeadline, waiters, unloaded)
            }
            // Resumed before anything below can fail: a waiter taken and never resumed would wait forever.
            for waiter in waiters { waiter.resume() }
            if !unloaded.isEmpty {
                // Over the memory budget: the payloads are read back on the queue's thread.
                do {
                    let payloads = try await readPayloads(unloaded.map(\.location))
                    for (item, payload) in zip(unloaded, payloads) { messages[item.index].payload = payload }
                    unloaded = []
                } catch {
                    // Nothing was handed out: the messages are visible again at once (this delivery not
                    // counted) and the exhausted ones wait, visible, for the next receive to move them.
                    releaseUndelivered(messages, exhausted: exhausted)
                    throw error
                }
            }
            if !exhausted.isEmpty {
                do {
                    // On failure the exhausted messages are visible again (see moveToDeadLetterQueue).
                    try await moveToDeadLetterQueue(exhausted, reason: "not acked after \(maxAttempts) deliveries (visibility timeout or restart)")
                } catch {
                    releaseUndelivered(messages, exhausted: [])
                    throw error
                }
            }
            if !messages.isEmpty {
                _ = submit(.deliveries(messages.map { ($0.sequence, UInt32(clamping: $0.attempt)) }), inPlace: true)
                return messages
            }
            if !exhausted.isEmpty { continue }
            if now >= waitDeadline { return [] }
            var wakeAt = waitDeadline
            if let leaseDeadline, leaseDeadline < wakeAt { wakeAt = leaseDeadline }
            await waitForMessages(unlessGenerationChangedFrom: generation, until: wakeAt)
        }
    }

    /// Suspends until messages are published, `deadline` passes, the queue
    /// closes or the task is cancelled. Returns at once if `generation` moved
    /// (messages arrived between the caller's look and now).
    private func waitForMessages(unlessGenerationChangedFrom generation: UInt64, until deadline: ContinuousClock.Instant) async {
        let waiterID = state.withLock { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        var timer: Task<Void, Never>?
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let (isRegistered, onTimerStarted) = state.withLock { state -> (Bool, (@Sendable () -> Void)?) in
                    guard state.generation == generation, !state.isClosed, !Task.isCancelled else { return (false, nil) }
                    state.waiters[waiterID] = continuation
                    return (true, state.onWaitTimerStarted)
                }
                guard isRegistered else {
                    continuation.resume()
                    return
                }
                // Registered first, then the timer: a timer that fires at once (a deadline already
                // due) still finds the waiter to wake.
                timer = Task { [weak self] in
                    try? await Task.sleep(until: deadline, clock: .continuous)
                    self?.wakeWaiter(waiterID)
                }
                onTimerStarted?()
            }
        } onCancel: {
            wakeWaiter(waiterID)
        }
        timer?.cancel()
    }

    private func wakeWaiter(_ waiterID: UInt64) {
        let continuation = state.withLock { $0.waiters.removeValue(forKey: waiterID) }
        continuation?.resume()
    }

    /// Acknowledges a message: it will not be delivered again. Returns once the
    /// ack is durable. Acking a message that was already acked or moved to the
    /// dead-letter queue does nothing.
    ///
    /// Only the current lease can ack: once the message was delivered again
    /// (its visibility timeout passed and a receive took it), nacked, or is on
    /// its way to the dead-letter queue, this throws
    /// ``StoreError/Code/leaseNotHeld`` and the message stays with its new holder.
    ///
    /// - Parameters:
    ///   - message: a message this consumer received and still leases.
    ///   - sync: false to return once the ack is written, without waiting for
    ///     its `fdatasync`: it survives a process crash, but a power loss may
    ///     take it back and the message is then delivered again (for a
    ///     consumer whose processing is idempotent). Default true.
    public func ack(_ message: QueueMessage, sync: Bool = true) async throws {
        try await ack([message], sync: sync)
    }

    /// Acknowledges messages with one durable write. If any of them is no longer
    /// leased by the caller (as for a single message), throws
    /// ``StoreError/Code/leaseNotHeld`` and acks none of them.
    public func ack(_ messages: [QueueMessage], sync: Bool = true) async throws {
        try checkOpen()
        let removed = try state.withLock { state in
            for message in messages {
                // Gone: already acked or moved to the dead-letter queue (nothing to do).
                guard let entry = state.entries[message.sequence] else { continue }
                guard entry.leaseID == message.leaseID, entry.leaseID != 0, entry.leaseID != QueueState.movingLeaseID else {
                    throw StoreError(.leaseNotHeld, "message \(message.sequence) is no longer leased to this receiver"
                                     + " (its visibility timeout passed and it was delivered again, it was nacked,"
                                     + " or it is moving to the dead-letter queue); nothing was acked", file: directory)
                }
            }
            return state.removeForAck(messages.map(\.sequence))
        }
        try await recordAcks(removed, sync: sync)
    }

    /// Removes sequences from the queue durably, whoever holds them (the queue's own moves).
    func acknowledge(_ sequences: [UInt64]) async throws {
        try checkOpen()
        try await recordAcks(state.withLock { $0.removeForAck(sequences) })
    }

    /// Makes the removal of sequences durable (one ack delta on the queue's thread).
    private func recordAcks(_ removed: [UInt64], sync: Bool = true) async throws {
        guard !removed.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            if !submit(.ack(removed, sync: sync, continuation), inPlace: !sync || options.sync == .none) {
                continuation.resume(throwing: StoreError(.closed, "the queue is closed", file: directory))
            }
        }
    }

    /// Gives a message back: visible again at once (next delivery `attempt + 1`),
    /// or moved to the dead-letter queue if it had ``QueueOptions/maxAttempts``
    /// deliveries. Does nothing if the lease is no longer current (timed out,
    /// acked). If the move to the dead-letter queue fails, throws and leaves
    /// the message visible (the next receive tries the move again).
    public func nack(_ message: QueueMessage) async throws {
        try checkOpen()
        let maxAttempts = options.maxAttempts
        let (isExhausted, waiters) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            guard var entry = state.entries[message.sequence], entry.leaseID == message.leaseID,
                  entry.leaseID != QueueState.movingLeaseID else { return (false, []) }
            if entry.attempt >= maxAttempts {
                entry.leaseID = QueueState.movingLeaseID
                state.entries[message.sequence] = entry
                return (true, [])
            }
            entry.leaseID = 0
            state.entries[message.sequence] = entry
            state.inFlightCount -= 1
            state.visible.insert(message.sequence)
            state.generation &+= 1
            return (false, state.takeWaiters())
        }
        for waiter in waiters { waiter.resume() }
        if isExhausted {
            try await moveToDeadLetterQueue([message.sequence], reason: "nacked after \(maxAttempts) deliveries")
        }
    }

    /// Extends the lease of a message the caller holds: it stays invisible to
    /// other receivers until `visibilityTimeout` from now (instead of its old
    /// deadline), and its delivery count does not change. Returns the renewed
    /// message, whose lease replaces the old one: ack, nack, extend or
    /// dead-letter with the returned value from now on (the old lease is stale).
    ///
    /// In memory only, like every lease (nothing is written; works on a
    /// read-only queue too). A consumer doing long work calls it well before
    /// the deadline, so that the message is never delivered to a second
    /// consumer while the first still makes progress.
    /// - Throws: ``StoreError/Code/leaseNotHeld`` if the lease is no longer
    ///   current (it timed out and the message was delivered again, it was
    ///   nacked, acked or is moving to the dead-letter queue); `.closed` after close.
    public func extendLease(_ message: QueueMessage, by visibilityTimeout: Duration) throws -> QueueMessage {
        let deadline = ContinuousClock.now.advanced(by: visibilityTimeout)
        return try state.withLock { state in
            if state.isClosed { throw StoreError(.closed, "the queue is closed", file: directory) }
            guard var entry = state.entries[message.sequence], entry.leaseID == message.leaseID, entry.leaseID != 0,
                  entry.leaseID != QueueState.movingLeaseID else {
                throw StoreError(.leaseNotHeld, "message \(message.sequence) is no longer leased to this receiver; "
                                 + "its lease was not extended", file: directory)
            }
            // A new lease id: the old deadline, still in the heap, no longer matches and is skipped.
            entry.leaseID = state.nextLeaseID
            state.nextLeaseID += 1
            state.entries[message.sequence] = entry
            state.leaseDeadlines.insert(QueueState.LeaseDeadline(deadline: deadline, sequence: message.sequence,
                                                                 leaseID: entry.leaseID))
            var renewed = message
            renewed.leaseID = entry.leaseID
            return renewed
        }
    }

    /// Moves a message the caller holds to the dead-letter queue now, whatever
    /// its delivery count: for a message that can never be processed (a
    /// corrupt payload, a bug), so that it stops being retried and waits for
    /// a person (``redrive()``). `reason` is stored with it (cut to 1,000 bytes).
    /// The move is appended to the dead-letter queue durably, then acked here
    /// (a crash in between leaves a copy in both, never none). Without a
    /// dead-letter queue (``QueueOptions/hasDeadLetterQueue`` false) the
    /// message is dropped (acked). Doing it for a message already gone does nothing.
    /// - Throws: ``StoreError/Code/leaseNotHeld`` if the lease is no longer current;
    ///   if the move fails, the message is visible here again and the error is rethrown.
    public func deadLetter(_ message: QueueMessage, reason: String) async throws {
        try checkOpen()
        let isHeld = try state.withLock { state -> Bool in
            guard var entry = state.entries[message.sequence] else { return false }
            guard entry.leaseID == message.leaseID, entry.leaseID != 0, entry.leaseID != QueueState.movingLeaseID else {
                throw StoreError(.leaseNotHeld, "message \(message.sequence) is no longer leased to this receiver; "
                                 + "it was not moved to the dead-letter queue", file: directory)
            }
            entry.leaseID = QueueState.movingLeaseID
            state.entries[message.sequence] = entry
            return true
        }
        guard isHeld else { return }
        var bounded = Array(reason.utf8)
        if bounded.count > 1000 {
            bounded = Array(bounded.prefix(1000))
            // Never cut inside a UTF-8 sequence.
            while let last = bounded.last, last & 0xC0 == 0x80 { bounded.removeLast() }
            if let last = bounded.last, last >= 0xC0 { bounded.removeLast() }
        }
        try await moveToDeadLetterQueue([message.sequence], reason: String(decoding: bounded, as: UTF8.self))
    }

    /// Gives back leases that were never handed out (the receive failed) and
    /// makes messages marked moving visible again; wakes the waiting receivers.
    private func releaseUndelivered(_ messages: [QueueMessage], exhausted: [UInt64]) {
        let waiters = state.withLock { state in
            state.releaseUndelivered(messages)
            state.cancelMove(exhausted)
            return state.takeWaiters()
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Appends messages (marked moving) to the dead-letter queue, then acks them here.
    /// A crash between the two leaves a copy in both: at-least-once, never lost.
    /// If the move fails, the messages still here are visible again (a later
    /// receive finds them exhausted and tries again) and the error is rethrown.
    private func moveToDeadLetterQueue(_ sequences: [UInt64], reason: String) async throws {
        do {
            try await appendToDeadLetterQueueAndAck(sequences, reason: reason)
        } catch {
            state.withLock { $0.cancelMove(sequences) }
            throw error
        }
    }

    private func appendToDeadLetterQueueAndAck(_ sequences: [UInt64], reason: String) async throws {
        let (collected, unloaded) = state.withLock { state in
            var records: [QueueStorage.NewRecord] = []
            var unloaded: [(index: Int, location: QueueRecordLocation)] = []
            for sequence in sequences {
                guard let entry = state.entries[sequence] else { continue }
                if entry.payload == nil { unloaded.append((records.count, entry.location)) }
                records.append(QueueStorage.NewRecord(
                    enqueuedAtMicros: entry.enqueuedAtMicros, attempts: UInt32(clamping: entry.attempt),
                    deadLetter: DeadLetterInfo(originalSequence: sequence, reason: reason), payload: entry.payload ?? []))
            }
            return (records, unloaded)
        }
        var records = collected
        let payloads = try await readPayloads(unloaded.map(\.location))
        for (item, payload) in zip(unloaded, payloads) { records[item.index].payload = payload }
        if let deadLetterQueue, !records.isEmpty {
            _ = try await deadLetterQueue.append(records)
            state.withLock { $0.deadLetteredTotal += UInt64(records.count) }
            testHooks.run(.queueDeadLetterMove)
        }
        try await acknowledge(sequences)
    }

    /// Moves every visible dead letter back into this queue (attempts reset to
    /// 0, original enqueue time kept), oldest first, and returns how many moved.
    /// Each batch is enqueued here durably before it is acked in the dead-letter
    /// queue, so a crash can duplicate a message but never lose one.
    ///
    /// Only the dead letters present when it starts are moved: a message that
    /// fails again at once and comes back to the dead-letter queue meanwhile
    /// waits for the next redrive (no endless loop with a fast consumer).
    @discardableResult
    public func redrive() async throws -> Int {
        guard let deadLetterQueue else { return 0 }
        let end = deadLetterQueue.stats.nextSequence
        var moved = 0
        while true {
            let received = try await deadLetterQueue.receive(max: 256, visibilityTimeout: .seconds(300))
            let letters = received.filter { $0.sequence < end }
            for later in received where later.sequence >= end { try await deadLetterQueue.nack(later) }
            if letters.isEmpty { return moved }
            _ = try await append(letters.map {
                QueueStorage.NewRecord(enqueuedAtMicros: $0.enqueuedAtMicros, attempts: 0, deadLetter: nil, payload: $0.payload)
            })
            try await deadLetterQueue.ack(letters)
            moved += letters.count
            if letters.count < received.count { return moved }
        }
    }
}
