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
}

