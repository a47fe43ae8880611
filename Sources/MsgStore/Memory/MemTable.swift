import Synchronization

/// The result of looking a user key up at a snapshot.
enum LookupResult: Equatable {
    /// The newest visible version is a value.
    case found([UInt8])
    /// The newest visible version is a tombstone: stop looking in older data.
    case deleted
    /// This source holds no visible version: look in older data.
    case absent
}

/// A partition's in-memory write buffer: an arena skip list of internal keys
/// with a byte budget.
///
/// One writer at a time (the commit leader) adds entries; any number of
/// readers look up and iterate concurrently. A lock serializes every access
/// to the list's links; keys and values, once added, never move or change, so
/// views of them stay valid while the memtable is alive.
final class MemTable: @unchecked Sendable {
    private let lock = ConditionLock()
    private let bytesEstimate = Atomic<Int>(0)
    private let entryCount = Atomic<Int>(0)
    private let list = SkipList()
    /// Largest sequence number added.
    private(set) var largestSequence: UInt64 = 0
    /// The WAL segment that was current when this memtable was created: every
    /// entry it holds is in that segment or a later one.
    let firstLogNumber: UInt64

    init(firstLogNumber: UInt64) {
        self.firstLogNumber = firstLogNumber
    }

    /// Memory held, in bytes.
    var bytesReserved: Int { lock.withLock { list.bytesReserved } }

    /// Number of entries (versions, tombstones included).
    var count: Int { entryCount.load(ordering: .relaxed) }

    var isEmpty: Bool { count == 0 }

    /// Approximate memory held (arena bytes of the entries), readable without the lock.
    var approximateBytes: Int { bytesEstimate.load(ordering: .relaxed) }

    /// Adds a version. REQUIRES: `sequence` not used before in this memtable for this key.
    func add(userKey: UnsafeRawBufferPointer, sequence: UInt64, kind: InternalKey.Kind, value: UnsafeRawBufferPointer) {
        let prefixLength = RowKeyCoding.prefixLength(userKey)
        lock.withLock {
            list.insert(userKey: userKey, trailer: InternalKey.trailer(sequence: sequence, kind: kind), value: value,
                        prefixLength: prefixLength)
            if sequence > largestSequence { largestSequence = sequence }
        }
        bytesEstimate.add(userKey.count + value.count + 48, ordering: .relaxed)
        entryCount.add(1, ordering: .relaxed)
    }

    /// The newest version of `userKey` with sequence ≤ `snapshot`.
    func get(userKey: UnsafeRawBufferPointer, snapshot: UInt64) -> LookupResult {
        lock.withLock {
            guard let node = list.seek(userKey: userKey, trailer: InternalKey.trailer(sequence: snapshot, kind: .value)) else {
                return .absent
            }
            let key = SkipList.key(node)
            guard compareBytes(InternalKey.userKey(key), userKey) == 0 else { return .absent }
            switch InternalKey.kind(key) {
            case .value: return .found(Array(SkipList.value(node)))
            case .deletion, .none: return .deleted
            }
        }
    }

    /// An iterator over every entry in internal-key order.
    func makeIterator() -> MemTableIterator { MemTableIterator(self) }

    // Used by MemTableIterator, with the lock held around link reads only.
    fileprivate func withList<T>(_ body: (SkipList) -> T) -> T { lock.withLock { body(list) } }
}

/// Iterates a memtable in internal-key order. Keys and values it exposes stay
/// valid as long as the iterator (which holds the memtable) is alive.
final class MemTableIterator: InternalIterator {
    private let table: MemTable
    private var node: UnsafeMutableRawPointer?

    init(_ table: MemTable) { self.table = table }

    var isValid: Bool { node != nil }

    func seekToFirst() { node = table.withList { $0.first } }

    func seek(toFirstAtOrAfter target: UnsafeRawBufferPointer) {
        let userKey = InternalKey.userKey(target)
        let trailer = InternalKey.trailer(target)
        node = table.withList { $0.seek(userKey: userKey, trailer: trailer) }
    }

    func next() {
        guard let current = node else { return }
        node = table.withList { _ in SkipList.next(current, 0) }
    }

    var key: UnsafeRawBufferPointer { SkipList.key(node!) }
    var value: UnsafeRawBufferPointer { SkipList.value(node!) }
}
