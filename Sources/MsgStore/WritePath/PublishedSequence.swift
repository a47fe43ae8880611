import Synchronization

/// The last sequence number whose batch is fully applied and visible, and
/// its commit timestamp: what readers take as their snapshot and what a
/// flush records in the manifest.
///
/// Written by the commit leader only (``publish(sequence:timestamp:)``,
/// after a group is applied); read by anyone without a lock. A part of its
/// own so that the pipeline (the writer) and the read path and background
/// jobs (the readers) share it without referring to each other.
final class PublishedSequence: Sendable {
    private let sequence: Atomic<UInt64>
    private let timestamp: Atomic<Int64>

    init(sequence: UInt64, timestamp: Int64) {
        self.sequence = Atomic(sequence)
        self.timestamp = Atomic(timestamp)
    }

    /// The last visible sequence. A reader takes it after its read view
    /// (see ``Partition/readView()``): acquiring, so that every batch up to
    /// it is seen whole.
    @inline(__always)
    var last: UInt64 { sequence.load(ordering: .acquiring) }

    /// The commit timestamp of the batch at ``last``.
    var lastTimestamp: Int64 { timestamp.load(ordering: .relaxed) }

    /// Makes every batch up to `sequence` visible. REQUIRES: commit leader,
    /// after the group is applied to the memtables; `sequence` only grows.
    @inline(__always)
    func publish(sequence: UInt64, timestamp: Int64) {
        self.timestamp.store(timestamp, ordering: .relaxed)
        self.sequence.store(sequence, ordering: .releasing)
    }
}
