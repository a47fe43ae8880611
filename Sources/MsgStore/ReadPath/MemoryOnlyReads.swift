/// Reads that never touch the disk: inside ``Store/withMemoryOnlyReads(_:)``
/// a lookup or scan is served from the memtables, the row cache and the
/// block cache only; a data block that would have to be read from a file
/// throws ``StoreError/Code/wouldBlock`` instead (RocksDB's
/// `kBlockCacheTier`).
///
/// The flag is task-local: it holds for synchronous code called from the
/// closure on the same task (or thread, outside any task), and nowhere else,
/// so background threads are never affected.
enum MemoryOnlyReads {
    @TaskLocal static var areActive = false
}

extension Store {
    /// Runs `body` with reads restricted to memory (memtables, row cache,
    /// block cache). A read that would block on a file throws
    /// ``StoreError/Code/wouldBlock``; run the same read again off the
    /// caller's thread (a thread pool for blocking work). Writes inside
    /// `body` are not affected.
    ///
    /// An async server serves most reads on its own threads this way and sends
    /// only cache misses to a pool, so a slow disk never stalls the threads
    /// that serve everything else.
    public static func withMemoryOnlyReads<R>(_ body: () throws -> R) throws -> R {
        try MemoryOnlyReads.$areActive.withValue(true) { try body() }
    }
}
