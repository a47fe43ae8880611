/// The read path: point lookups (through the row cache, for tables that
/// cache rows) and partition iterators over memtables and SSTables, at the
/// snapshot of the ``PublishedSequence``.
///
/// Holds no state of its own: each read takes a ``Partition/ReadView``
/// (under the partition's lock) and then reads without any lock; the row
/// cache has its own lock (a leaf).
final class ReadPath: Sendable {
    private let rowCache: RowCache
    private let published: PublishedSequence
    private let testHooks: TestHooks

    /// Reads through `rowCache` at the snapshots of `published`.
    init(rowCache: RowCache, published: PublishedSequence, testHooks: TestHooks) {
        self.rowCache = rowCache
        self.published = published
        self.testHooks = testHooks
    }

    /// The newest visible value of `userKey`, or nil.
    ///
    /// Memtables newest first, then L0 files newest first (each consulting its
    /// bloom filter), then one file per deeper level found by binary search.
    func get(table: TableState, userKey: [UInt8]) throws -> [UInt8]? {
        guard table.handle.cachesRows else { return try lookup(table: table, userKey: userKey).value }
        switch rowCache.lookup(table: table.handle.id, userKey: userKey) {
        case .value(let value): return value
        case .absent: return nil
        case nil:
            let (value, complete) = try lookup(table: table, userKey: userKey)
            rowCache.insert(table: table.handle.id, userKey: userKey, value.map { .value($0) } ?? .absent, snapshot: complete)
            return value
        }
    }

    /// The LSM walk behind ``get(table:userKey:)``. Returns the value and the
    /// sequence up to which the view read is known complete — the one to
    /// cache under: taken *before* the view, since a memtable rotation and a
    /// commit of the key between the view and the read snapshot put the new
    /// value in a memtable the view does not hold.
    private func lookup(table: TableState, userKey: [UInt8]) throws -> (value: [UInt8]?, complete: UInt64) {
        try userKey.withUnsafeBytes { key in
            guard let partition = table.partition(forUserKey: key) else {
                throw StoreError(.invalidArgument, "malformed row key")
            }
            let complete = published.last
            let view = partition.readView()
            if testHooks.isArmed { testHooks.run(.afterReadView) }
            let snapshot = published.last  // after the view: see Partition.readView
            for memtable in view.memtables where !memtable.isEmpty {
                switch memtable.get(userKey: key, snapshot: snapshot) {
                case .found(let value): return (value, complete)
                case .deleted: return (nil, complete)
                case .absent: continue
                }
            }
            for file in view.version.levels[0] where file.contains(userKey: key) {
                switch try file.reader.get(key, snapshotSequence: snapshot) {
                case .found(let value, _): return (value, complete)
                case .deleted: return (nil, complete)
                case .notPresent: continue
                }
            }
            for level in 1..<levelCount {
                guard let file = view.version.file(level: level, containing: key) else { continue }
                switch try file.reader.get(key, snapshotSequence: snapshot) {
                case .found(let value, _): return (value, complete)
                case .deleted: return (nil, complete)
                case .notPresent: continue
                }
            }
            return (nil, complete)
        }
    }

    /// An iterator over the visible rows of one partition. With `prefix`
    /// (a row-key prefix: one partition key), SSTables that cannot hold it —
    /// by key range or prefix filter — are left out.
    func rowIterator(partition: Partition, prefix: UnsafeRawBufferPointer?) -> SnapshotIterator {
        let view = partition.readView()
        let snapshot = published.last  // after the view
        var children: [any InternalIterator] = view.memtables.filter { !$0.isEmpty }.map { $0.makeIterator() }
        func wanted(_ file: SSTableFile) -> Bool {
            guard let prefix else { return true }
            return file.overlaps(prefix: prefix) && file.reader.mayContainPrefix(prefix)
        }
        for file in view.version.levels[0] where wanted(file) {
            children.append(file.reader.makeIterator())
        }
        for level in 1..<levelCount {
            let files = view.version.levels[level].filter(wanted)
            if files.count == 1 { children.append(files[0].reader.makeIterator()) }
            else if !files.isEmpty { children.append(LevelIterator(files: files)) }
        }
        let source: any InternalIterator = children.count == 1 ? children[0] : MergingIterator(children)
        return SnapshotIterator(source, snapshot: snapshot, pinning: view)
    }
}
