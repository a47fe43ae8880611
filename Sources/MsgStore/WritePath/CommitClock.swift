#if canImport(Glibc)
import Glibc
#endif

/// The store's commit clock: microseconds since the Unix epoch, strictly
/// increasing in commit order, never going back — not when the wall clock
/// steps back, and not across restarts (the last value is in every log record
/// and restored by recovery).
struct CommitClock {
    private(set) var last: Int64

    init(last: Int64 = 0) { self.last = last }

    /// The next timestamp: the wall clock, or one past the last if that is not greater.
    mutating func next() -> Int64 {
        let now = CommitClock.wallMicroseconds()
        last = now > last ? now : last + 1
        return last
    }

    /// Raises the clock to at least `value` (recovery).
    mutating func observe(_ value: Int64) {
        if value > last { last = value }
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
