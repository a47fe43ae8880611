/// Exponential backoff for work that failed before anything relied on its
/// result (creating a log segment, writing an SSTable): the work is tried
/// again no sooner than ``notBefore``, 10 ms after the first failure,
/// doubling up to 2 s.
struct RetryBackoff {
    /// Monotonic microseconds before which the work is not retried.
    private(set) var notBefore: Int64 = 0
    /// The last failure, while the work keeps failing.
    private(set) var lastError: StoreError?
    private var delay: Int64 = 10_000

    /// Records a failure at `now`: the next try waits the current delay, which doubles.
    mutating func failed(_ error: StoreError, now: Int64 = CommitClock.monotonicMicroseconds()) {
        lastError = error
        notBefore = now + delay
        delay = min(delay * 2, 2_000_000)
    }

    /// Records a success: the next failure waits the first delay again.
    mutating func succeeded() {
        guard lastError != nil || notBefore != 0 else { return }
        lastError = nil
        notBefore = 0
        delay = 10_000
    }
}
