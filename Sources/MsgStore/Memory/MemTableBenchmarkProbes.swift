/// Entry points into the memtable for the micro benchmarks of `Benchmarks/`
/// (release builds, where `@testable import` is not available). Not API:
/// `@_spi(Benchmarks)`.
@_spi(Benchmarks)
public final class MemTableBenchmarkProbe: @unchecked Sendable {
    private let table = MemTable(firstLogNumber: 1)
    private var sequence: UInt64 = 0

    /// An empty memtable.
    public init() {}

    /// Inserts `userKey → value` at the next sequence number, as a commit does.
    /// Not thread-safe: one benchmark task at a time.
    public func insert(userKey: [UInt8], value: [UInt8]) {
        sequence += 1
        userKey.withUnsafeBytes { key in
            value.withUnsafeBytes { table.add(userKey: key, sequence: sequence, kind: .value, value: $0) }
        }
    }

    /// Positions an iterator at the first entry ≥ `userKey` and reads up to
    /// `count` entries; returns how many were read.
    public func seekAndRead(userKey: [UInt8], count: Int) -> Int {
        let iterator = table.makeIterator()
        let target = InternalKey.make(userKey: userKey, sequence: sequence, kind: .value)
        target.withUnsafeBytes { iterator.seek(toFirstAtOrAfter: $0) }
        var read = 0
        while read < count && iterator.isValid {
            read += 1
            iterator.next()
        }
        return read
    }
}
