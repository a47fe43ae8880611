/// The one iterator protocol of the engine's sorted sources (table, memtable,
/// merging iterator): a cursor over internal keys in ascending order.
///
/// Lifetime rule: ``key`` and ``value`` are views valid until the next call
/// that moves the iterator (`seek…`, `next`) or until the iterator is
/// released. Copy them to keep them. Not thread-safe: one iterator per thread.
/// After a method throws, the iterator is invalid.
protocol InternalIterator: AnyObject {
    /// Whether the iterator is at an entry.
    var isValid: Bool { get }
    /// The current internal key. REQUIRES: `isValid`.
    var key: UnsafeRawBufferPointer { get }
    /// The current value. REQUIRES: `isValid`.
    var value: UnsafeRawBufferPointer { get }
    /// Moves to the first entry.
    func seekToFirst() throws
    /// Moves to the first entry whose internal key is at or after `target`.
    func seek(toFirstAtOrAfter target: UnsafeRawBufferPointer) throws
    /// Moves to the next entry. REQUIRES: `isValid`.
    func next() throws
}
