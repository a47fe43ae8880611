extension Store {
    /// Brings the store to a quiet state — every memtable flushed to an
    /// SSTable, and no flush or compaction due or running — and describes the
    /// result (files per level, bytes, write amplification).
    ///
    /// Used by `msgstore bench`'s settle phase and before measuring size.
    @discardableResult
    public func settle() throws -> String {
        try engine.settle()
    }

    /// Writes every memtable to an SSTable and waits until they are all on
    /// disk and recorded in the manifest (RocksDB's `Flush`). Compactions the
    /// new files make due run in the background as usual.
    public func flush() throws {
        if engine.isClosed { throw StoreError(.closed, "the store is closed") }
        try engine.flushMemtables()
    }
}
