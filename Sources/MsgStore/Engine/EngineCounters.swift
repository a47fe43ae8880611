import Synchronization

/// Counters and gauges the engine's parts keep (all relaxed atomics; read
/// with ``Store/statistics``). Shared by the parts that update them; no
/// invariant ties them to each other.
final class EngineCounters: Sendable {
    let flushes = Atomic<UInt64>(0)
    let flushBytesWritten = Atomic<UInt64>(0)
    let compactions = Atomic<UInt64>(0)
    let compactionBytesRead = Atomic<UInt64>(0)
    let compactionBytesWritten = Atomic<UInt64>(0)
    let stallMicroseconds = Atomic<UInt64>(0)
    let slowdowns = Atomic<UInt64>(0)
    /// Bytes of the active memtables (``MemTableSet``; leader only).
    let activeMemtableBytes = Atomic<Int>(0)
    /// Bytes of the immutable memtables (rotation adds, a flush subtracts).
    let immutableMemtableBytes = Atomic<Int>(0)
    /// The largest L0 file count of any partition (``BackgroundJobs``).
    let maxLevel0Files = Atomic<Int>(0)
}
