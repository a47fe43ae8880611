extension Store {
    /// Brings the store to a quiet state — every queued write committed, and
    /// background work (flushes, compactions) finished — and describes it.
    ///
    /// Used by `msgstore bench`'s settle phase and before measuring size.
    @discardableResult
    public func settle() throws -> String {
        try engine.settle()
    }
}

extension Engine {
    func settle() throws -> String {
        if let failure = pipeline.failed { throw failure }
        let partitions = tablesById.values.flatMap(\.partitions)
        let entries = partitions.reduce(0) { total, partition in total + partition.sources().reduce(0) { $0 + $1.count } }
        let bytes = partitions.reduce(0) { $0 + $1.memtableBytes }
        return "no background work pending; \(entries) entries in memtables (\(bytes >> 20) MiB), logged in the WAL"
    }
}
