/// The one iterator protocol every source of entries speaks: memtables,
/// SSTables, and the merge of them (mini-lsm's `StorageIterator`).
///
/// Positions are over *internal keys* (``InternalKey``), ascending. `key` and
/// `value` may only be read while `isValid`, and the views they return are
/// valid until the iterator moves (or longer, where a source says so).
protocol InternalIterator: AnyObject {
    /// Whether the iterator is on an entry.
    var isValid: Bool { get }
    /// Moves to the first entry.
    func seekToFirst() throws
    /// Moves to the first entry whose internal key is ≥ `target`.
    func seek(toFirstAtOrAfter target: UnsafeRawBufferPointer) throws
    /// Moves to the next entry. REQUIRES: `isValid`.
    func next() throws
    /// The current internal key. REQUIRES: `isValid`.
    var key: UnsafeRawBufferPointer { get }
    /// The current value. REQUIRES: `isValid`.
    var value: UnsafeRawBufferPointer { get }
}

/// Merges several iterators into one ascending sequence of internal keys.
///
/// Children are few (memtables, L0 files, one per level), so the smallest is
/// found by a linear scan. Equal internal keys cannot occur: a sequence
/// number is used once.
final class MergingIterator: InternalIterator {
    private let children: [any InternalIterator]
    private var current: (any InternalIterator)?

    init(_ children: [any InternalIterator]) { self.children = children }

    var isValid: Bool { current != nil }

    private func findSmallest() {
        var smallest: (any InternalIterator)?
        for child in children where child.isValid {
            if let best = smallest {
                if InternalKey.compare(child.key, best.key) < 0 { smallest = child }
            } else {
                smallest = child
            }
        }
        current = smallest
    }

    func seekToFirst() throws {
        for child in children { try child.seekToFirst() }
        findSmallest()
    }

    func seek(toFirstAtOrAfter target: UnsafeRawBufferPointer) throws {
        for child in children { try child.seek(toFirstAtOrAfter: target) }
        findSmallest()
    }

    func next() throws {
        try current?.next()
        findSmallest()
    }

    var key: UnsafeRawBufferPointer { current!.key }
    var value: UnsafeRawBufferPointer { current!.value }
}

/// Turns internal entries into the rows visible at a snapshot: for each user
/// key, the newest version with sequence ≤ `snapshot`, skipping tombstones
/// (LevelDB's `DBIter`, forward only).
final class SnapshotIterator {
    private let source: any InternalIterator
    private let snapshot: UInt64
    private var currentUserKey: [UInt8] = []
    private(set) var isValid = false

    init(_ source: any InternalIterator, snapshot: UInt64) {
        self.source = source
        self.snapshot = snapshot
    }

    /// Positions on the first visible row with user key ≥ `userKey`.
    func seek(userKey: UnsafeRawBufferPointer) throws {
        var target: [UInt8] = []
        target.reserveCapacity(userKey.count + 8)
        InternalKey.append(userKey: userKey, sequence: snapshot, kind: .value, to: &target)
        try target.withUnsafeBytes { try source.seek(toFirstAtOrAfter: $0) }
        try settle(skipping: nil)
    }

    /// Positions on the first visible row.
    func seekToFirst() throws {
        try source.seekToFirst()
        try settle(skipping: nil)
    }

    /// Moves to the next visible row. REQUIRES: `isValid`.
    func next() throws {
        try settle(skipping: currentUserKey)
    }

    /// The current row's user key (valid until the next move).
    var userKey: UnsafeRawBufferPointer { InternalKey.userKey(source.key) }
    /// The current row's value (valid until the next move).
    var value: UnsafeRawBufferPointer { source.value }

    /// Advances the source to the next visible value whose user key differs from `skipped`.
    private func settle(skipping skipped: [UInt8]?) throws {
        var skipKey = skipped
        while source.isValid {
            let key = source.key
            let user = InternalKey.userKey(key)
            if let skip = skipKey, skip.withUnsafeBytes({ compareBytes(user, $0) }) == 0 {
                try source.next()
                continue
            }
            if InternalKey.sequence(key) > snapshot {
                try source.next()  // newer than the snapshot: invisible
                continue
            }
            // The newest visible version of this user key.
            guard let kind = InternalKey.kind(key) else {
                throw StoreError.corruption("entry with unknown kind byte", file: nil, offset: nil)
            }
            currentUserKey.removeAll(keepingCapacity: true)
            currentUserKey.append(contentsOf: user)
            if kind == .deletion {
                skipKey = currentUserKey
                try source.next()
                continue
            }
            isValid = true
            return
        }
        isValid = false
    }
}
