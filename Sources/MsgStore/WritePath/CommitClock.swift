#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The store's commit clock: microseconds since the Unix epoch, strictly
/// increasing in commit order, never going back — not when the wall clock
/// steps back, and not across restarts (the last value is in every log record
/// and restored by recovery).
///
/// The commit leader stamps batches with ``next()``; ``Store/reserveCommitStamp()``
/// takes a value from any thread. Both advance one atomic, so every value
/// handed out is unique and greater than every earlier one.
final class CommitClock: Sendable {
    private let lastValue: Atomic<Int64>

    init(last: Int64 = 0) { lastValue = Atomic(last) }

    /// The newest value handed out (or observed at recovery).
    var last: Int64 { lastValue.load(ordering: .acquiring) }

    /// The next timestamp: the wall clock, or one past the last if that is not greater.
    func next() -> Int64 {
        var last = lastValue.load(ordering: .relaxed)
        while true {
            let now = CommitClock.wallMicroseconds()
            let value = now > last ? now : last + 1
            let (exchanged, original) = lastValue.compareExchange(
                expected: last, desired: value, successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return value }
            last = original
        }
    }

    /// Raises the clock to at least `value` (recovery).
    func observe(_ value: Int64) {
        var last = lastValue.load(ordering: .relaxed)
        while value > last {
            let (exchanged, original) = lastValue.compareExchange(
                expected: last, desired: value, successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return }
            last = original
        }
    }

    static func monotonicMicroseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1_000
    }

    static func wallMicroseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1_000
    }
}

/// What a committed batch was given.
public struct CommitReceipt: Sendable, Equatable {
    /// Sequence number of the batch's last op (the batch's ops have the
    /// `count` sequence numbers ending here).
    public var sequence: UInt64
    /// The batch's commit timestamp (µs since the Unix epoch), unique and
    /// increasing in commit order; what stamped ops received.
    public var timestamp: Int64
}
