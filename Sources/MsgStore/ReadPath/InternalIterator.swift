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
/// found by a linear scan — over each child's *cached* current key, so that a
/// step calls into the one child that moved and nothing else (no dynamic
/// dispatch or reference counting per child per step). A child's key view
/// stays valid until that child moves, which only this iterator does.
/// Equal internal keys cannot occur: a sequence number is used once.
final class MergingIterator: InternalIterator {
    private let children: [any InternalIterator]
    /// Current key of each child; `count == 0 && baseAddress == nil` when exhausted.
    private var keys: [UnsafeRawBufferPointer]
    private var currentIndex = -1
    private(set) var key = UnsafeRawBufferPointer(start: nil, count: 0)
    private(set) var value = UnsafeRawBufferPointer(start: nil, count: 0)

    init(_ children: [any InternalIterator]) {
        self.children = children
        self.keys = Array(repeating: UnsafeRawBufferPointer(start: nil, count: 0), count: children.count)
    }

    var isValid: Bool { currentIndex >= 0 }

    @inline(__always)
    private func refresh(_ index: Int) {
        let child = children[index]
        keys[index] = child.isValid ? child.key : UnsafeRawBufferPointer(start: nil, count: 0)
    }

    private func findSmallest() {
        var best = -1
        keys.withUnsafeBufferPointer { keys in
            for index in 0..<keys.count where keys[index].baseAddress != nil {
                if best < 0 || InternalKey.compare(keys[index], keys[best]) < 0 { best = index }
            }
        }
        currentIndex = best
        if best >= 0 {
            key = keys[best]
            value = children[best].value
        }
    }

    func seekToFirst() throws {
        for index in children.indices {
            try children[index].seekToFirst()
            refresh(index)
        }
        findSmallest()
    }

    func seek(toFirstAtOrAfter target: UnsafeRawBufferPointer) throws {
        for index in children.indices {
            try children[index].seek(toFirstAtOrAfter: target)
            refresh(index)
        }
        findSmallest()
    }

    func next() throws {
        guard currentIndex >= 0 else { return }
        try children[currentIndex].next()
        refresh(currentIndex)
        findSmallest()
    }
}

/// Turns internal entries into the rows visible at a snapshot: for each user
/// key, the newest version with sequence ≤ `snapshot`, skipping tombstones
/// (LevelDB's `DBIter`, forward only).
final class SnapshotIterator {
    private let source: any InternalIterator
    private let snapshot: UInt64
    /// What must outlive the iterator: the read view whose memtables and
    /// SSTables the source reads (a compaction may drop those files from the
    /// current version meanwhile; they are closed and deleted only when the
    /// last holder lets go).
    private let pinned: AnyObject?
    private var currentUserKey: [UInt8] = []
    private(set) var isValid = false

    init(_ source: any InternalIterator, snapshot: UInt64, pinning pinned: AnyObject? = nil) {
        self.source = source
        self.snapshot = snapshot
        self.pinned = pinned
    }

    /// Positions on the first visible row with user key ≥ `userKey`.
    func seek(userKey: UnsafeRawBufferPointer) throws {
        var target: [UInt8] = []
        target.reserveCapacity(userKey.count + 8)
        InternalKey.append(userKey: userKey, sequence: snapshot, kind: .value, to: &target)
        try target.withUnsafeBytes { try source.seek(toFirstAtOrAfter: $0) }
        try settle(skippingCurrent: false)
    }

    /// Positions on the first visible row.
    func seekToFirst() throws {
        try source.seekToFirst()
        try settle(skippingCurrent: false)
    }

    /// Moves to the next visible row. REQUIRES: `isValid`.
    func next() throws {
        try settle(skippingCurrent: true)
    }

    /// The current row's user key (valid until the next move).
    var userKey: UnsafeRawBufferPointer { InternalKey.userKey(source.key) }
    /// The current row's value (valid until the next move).
    var value: UnsafeRawBufferPointer { source.value }

    /// Advances the source to the next visible value; with `skippingCurrent`,
    /// past every remaining version of `currentUserKey` first. The per-entry
    /// loop works on one local reference to the source and compares against
    /// `currentUserKey` in place (no copy of a key per row).
    private func settle(skippingCurrent: Bool) throws {
        let source = self.source
        var skipping = skippingCurrent
        while source.isValid {
            let key = source.key
            let user = InternalKey.userKey(key)
            if skipping {
                if currentUserKey.withUnsafeBytes({ compareBytes(user, $0) }) == 0 {
                    try source.next()
                    continue
                }
                skipping = false
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
                skipping = true  // every older version of this key is hidden by the tombstone
                try source.next()
                continue
            }
            isValid = true
            return
        }
        isValid = false
    }
}
