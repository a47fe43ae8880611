/// Iterates an SSTable in internal-key order: a cursor over the index block
/// and a cursor over the current data block (a two-level iterator).
///
/// ``key`` and ``value`` are views (into the iterator's key buffer and into
/// the cached block) valid until the next move; nothing is allocated per
/// entry, only a block lookup (or read) at each block boundary.
final class SSTableIterator: InternalIterator {
    /// The table being iterated (kept alive by the iterator).
    let table: SSTableReader
    // One owner thread (see InternalIterator), so no dynamic exclusivity checks.
    @exclusivity(unchecked) private var indexCursor: BlockCursor
    @exclusivity(unchecked) private var dataCursor: BlockCursor

    /// Whether blocks read go into the block cache.
    private let fillsCache: Bool

    /// An unpositioned iterator over `table`.
    init(table: SSTableReader, fillsCache: Bool = true) {
        self.table = table
        self.fillsCache = fillsCache
        indexCursor = BlockCursor(block: table.indexBlock, keyBuffer: ScratchBuffer(), internalKeys: true)
        dataCursor = BlockCursor(block: Block.empty, keyBuffer: ScratchBuffer(capacity: 128), internalKeys: true)
    }

    /// Whether the iterator is at an entry.
    var isValid: Bool { dataCursor.isValid }
    /// The current internal key (valid until the next move).
    var key: UnsafeRawBufferPointer { dataCursor.key }
    /// The current value (valid until the next move).
    var value: UnsafeRawBufferPointer { dataCursor.value }

    /// Moves to the first entry of the file.
    func seekToFirst() throws {
        dataCursor.reset(to: Block.empty)
        try indexCursor.seekToFirst()
        guard indexCursor.isValid else { return }
        try loadBlock()
        try dataCursor.seekToFirst()
        try skipExhaustedBlocks()
    }

    /// Moves to the first entry at or after `target` (an internal key).
    func seek(toFirstAtOrAfter target: UnsafeRawBufferPointer) throws {
        dataCursor.reset(to: Block.empty)
        try indexCursor.seek(toFirstAtOrAfter: target)
        guard indexCursor.isValid else { return }
        try loadBlock()
        try dataCursor.seek(toFirstAtOrAfter: target)
        try skipExhaustedBlocks()
    }

    /// Moves to the next entry.
    func next() throws {
        assert(isValid)
        try dataCursor.next()
        try skipExhaustedBlocks()
    }

    private func loadBlock() throws {
        dataCursor.reset(to: Block.empty)
        let handle = try table.decodeHandle(indexCursor.value)
        dataCursor.reset(to: try table.dataBlock(handle, fillsCache: fillsCache))
    }

    private func skipExhaustedBlocks() throws {
        while !dataCursor.isValid {
            guard indexCursor.isValid else { return }
            try indexCursor.next()
            guard indexCursor.isValid else {
                dataCursor.reset(to: Block.empty)
                return
            }
            try loadBlock()
            try dataCursor.seekToFirst()
        }
    }
}

extension Block {
    /// A valid block with no entries (an iterator's resting state).
    static let empty: Block = try! Block.make(copying: [0, 0, 0, 0, 1, 0, 0, 0], file: "", fileOffset: 0)
}
