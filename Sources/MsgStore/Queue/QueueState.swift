/// The in-memory state of a queue, guarded by the queue's `Mutex`: every
/// unacked message, which are visible, the leases, and the waiting receivers.
///
/// Invariants: a sequence in `entries` is either visible (in `visible`,
/// `leaseID == 0`) or leased (`leaseID != 0`, counted in `inFlightCount`).
/// `visible` and `leaseDeadlines` may hold stale items; they are skipped when
/// popped (lazy deletion).
struct QueueState {
    /// One unacked message.
    struct Entry {
        var enqueuedAtMicros: Int64
        /// Deliveries before this process opened the queue (stored in the record).
        var storedAttempts: UInt32
        /// Deliveries since this process opened the queue.
        var deliveries: Int = 0
        var deadLetter: DeadLetterInfo?
        /// The payload, or nil when it was left on disk (over the memory budget).
        var payload: [UInt8]?
        /// Where the record is, to read the payload back.
        var location: QueueRecordLocation
        /// 0 when visible; otherwise the current lease (`movingLeaseID` while being dead-lettered).
        var leaseID: UInt64 = 0

        /// The number of the latest delivery.
        var attempt: Int { Int(storedAttempts) + deliveries }
    }

    /// A lease deadline in the heap.
    struct LeaseDeadline: Comparable {
        var deadline: ContinuousClock.Instant
        var sequence: UInt64
        var leaseID: UInt64
        static func < (a: LeaseDeadline, b: LeaseDeadline) -> Bool {
            (a.deadline, a.sequence) < (b.deadline, b.sequence)
        }
    }

    /// The lease of messages on their way to the dead-letter queue.
    static let movingLeaseID = UInt64.max

    var entries: [UInt64: Entry] = [:]
    var visible = QueueHeap<UInt64>()
    var leaseDeadlines = QueueHeap<LeaseDeadline>()
    /// Unacked sequences, smallest first (stale ones skipped): the oldest unacked message.
    var unackedOrder = QueueHeap<UInt64>()
    var inFlightCount = 0
    var nextLeaseID: UInt64 = 1
    /// Receivers suspended in a long poll.
    var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    var nextWaiterID: UInt64 = 1
    /// Bumped whenever messages become visible or are leased; a receiver that saw nothing
    /// waits only if it is unchanged (so its wake-up time includes every lease deadline).
    var generation: UInt64 = 0
    var enqueuedTotal: UInt64 = 0
    var ackedTotal: UInt64 = 0
    var syncCount: UInt64 = 0
    var deadLetteredTotal: UInt64 = 0
    /// Deliveries with `attempt > 1` (``QueueStats/redeliveredTotal``).
    var redeliveredTotal: UInt64 = 0
    var segmentCount = 0
    var nextSequence: UInt64 = 1
    var isClosed = false
    /// Bytes of payloads held in `entries`, and the most allowed (``QueueOptions/maxMemoryPayloadBytes``).
    var cachedPayloadBytes = 0
    var maxPayloadBytes = Int.max
    /// Set when a write or sync failed: the queue refuses enqueues and acks (read-only).
    var failure: StoreError?
    /// The last failure of a roll or consumer-state rewrite being retried with backoff.
    var backgroundFailure: StoreError?
    /// Test seam: run on the receiving task right after a long poll started its wake-up timer.
    var onWaitTimerStarted: (@Sendable () -> Void)?

    /// Adds durable messages as visible; payloads past the memory budget are left on disk
    /// (`isPayloadLoaded` false: the record's payload was not read).
    mutating func publish(_ records: [(sequence: UInt64, location: QueueRecordLocation, record: QueueStorage.NewRecord, isPayloadLoaded: Bool)]) {
        for (sequence, location, record, isPayloadLoaded) in records {
            var payload: [UInt8]?
            if isPayloadLoaded && cachedPayloadBytes + record.payload.count <= maxPayloadBytes {
                payload = record.payload
                cachedPayloadBytes += record.payload.count
            }
            entries[sequence] = Entry(enqueuedAtMicros: record.enqueuedAtMicros, storedAttempts: record.attempts,
                                      deadLetter: record.deadLetter, payload: payload, location: location)
            visible.insert(sequence)
            unackedOrder.insert(sequence)
        }
        generation &+= 1
    }

    /// Takes every waiting receiver (to resume outside the lock).
    mutating func takeWaiters() -> [CheckedContinuation<Void, Never>] {
        let taken = Array(waiters.values)
        waiters.removeAll()
        return taken
    }

    /// Moves messages whose lease passed `now` back to visible, or — past
    /// `maxAttempts` — marks them moving and returns them for the dead-letter queue.
    mutating func expireLeases(now: ContinuousClock.Instant, maxAttempts: Int) -> [UInt64] {
        var exhausted: [UInt64] = []
        while let top = leaseDeadlines.min, top.deadline <= now {
            _ = leaseDeadlines.removeMin()
            guard var entry = entries[top.sequence], entry.leaseID == top.leaseID else { continue }
            if entry.attempt >= maxAttempts {
                entry.leaseID = Self.movingLeaseID
                exhausted.append(top.sequence)
            } else {
                entry.leaseID = 0
                inFlightCount -= 1
                visible.insert(top.sequence)
                generation &+= 1
            }
            entries[top.sequence] = entry
        }
        return exhausted
    }

    /// Leases up to `count` visible messages, smallest sequence first. A
    /// message that already had `maxAttempts` deliveries (counted before a
    /// restart) is not delivered: it is marked moving and returned in `exhausted`.
    /// Messages whose payload is on disk are listed in `unloaded` (index in the result, location).
    mutating func lease(count: Int, deadline: ContinuousClock.Instant, maxAttempts: Int,
                        exhausted: inout [UInt64], unloaded: inout [(index: Int, location: QueueRecordLocation)]) -> [QueueMessage] {
        var messages: [QueueMessage] = []
        while messages.count < count, let sequence = visible.removeMin() {
            guard var entry = entries[sequence], entry.leaseID == 0 else { continue }
            if entry.attempt >= maxAttempts {
                entry.leaseID = Self.movingLeaseID
                entries[sequence] = entry
                inFlightCount += 1
                exhausted.append(sequence)
                continue
            }
            entry.deliveries += 1
            if entry.attempt > 1 { redeliveredTotal += 1 }
            entry.leaseID = nextLeaseID
            nextLeaseID += 1
            entries[sequence] = entry
            inFlightCount += 1
            leaseDeadlines.insert(LeaseDeadline(deadline: deadline, sequence: sequence, leaseID: entry.leaseID))
            if entry.payload == nil { unloaded.append((messages.count, entry.location)) }
            messages.append(QueueMessage(sequence: sequence, enqueuedAtMicros: entry.enqueuedAtMicros, attempt: entry.attempt,
                                         deadLetter: entry.deadLetter, payload: entry.payload ?? [], leaseID: entry.leaseID))
        }
        // A new lease is a new deadline: a receiver about to wait with an earlier view must look again.
        if !messages.isEmpty { generation &+= 1 }
        return messages
    }

    /// Takes back leases of messages that were never handed out (reading their
    /// payloads failed): visible again at once, the delivery not counted.
    mutating func releaseUndelivered(_ messages: [QueueMessage]) {
        for message in messages {
            guard var entry = entries[message.sequence], entry.leaseID == message.leaseID else { continue }
            entry.leaseID = 0
            entry.deliveries -= 1
            if message.attempt > 1 { redeliveredTotal -= 1 }
            entries[message.sequence] = entry
            inFlightCount -= 1
            visible.insert(message.sequence)
        }
        if !messages.isEmpty { generation &+= 1 }
    }

    /// Makes messages marked moving visible again: their move to the dead-letter
    /// queue failed, and the next receive finds them exhausted and tries again.
    mutating func cancelMove(_ sequences: [UInt64]) {
        var changed = false
        for sequence in sequences {
            guard var entry = entries[sequence], entry.leaseID == Self.movingLeaseID else { continue }
            entry.leaseID = 0
            entries[sequence] = entry
            inFlightCount -= 1
            visible.insert(sequence)
            changed = true
        }
        if changed { generation &+= 1 }
    }

    /// Removes messages being acked; returns the sequences that were still unacked.
    mutating func removeForAck(_ sequences: [UInt64]) -> [UInt64] {
        var removed: [UInt64] = []
        for sequence in sequences {
            guard let entry = entries.removeValue(forKey: sequence) else { continue }
            if entry.leaseID != 0 { inFlightCount -= 1 }
            cachedPayloadBytes -= entry.payload?.count ?? 0
            removed.append(sequence)
        }
        return removed
    }

    /// The enqueue time of the oldest unacked message.
    mutating func oldestEnqueuedAtMicros() -> Int64? {
        while let sequence = unackedOrder.min {
            if let entry = entries[sequence] { return entry.enqueuedAtMicros }
            _ = unackedOrder.removeMin()
        }
        return nil
    }

    /// The earliest lease deadline, if any message is leased.
    var nextLeaseDeadline: ContinuousClock.Instant? { leaseDeadlines.min?.deadline }
}
