/// Bump allocator for memtable nodes: large chunks, never freed individually,
/// all released together when the arena (and its memtable) goes away.
///
/// Invariants: a returned pointer stays valid and unmoved for the arena's
/// life; allocations are 8-byte aligned; `bytesUsed` counts chunk bytes
/// reserved (the memtable's memory cost). Not thread-safe: one writer.
final class Arena {
    static let chunkSize = 1 << 20

    private var chunks: [UnsafeMutableRawPointer] = []
    private var current: UnsafeMutableRawPointer?
    private var used = 0
    private var capacity = 0
    /// Bytes reserved from the system.
    private(set) var bytesReserved = 0
    /// Bytes handed out.
    private(set) var bytesAllocated = 0

    deinit {
        for chunk in chunks { chunk.deallocate() }
    }

    /// Returns `size` bytes of 8-byte-aligned, uninitialized memory.
    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let aligned = (size + 7) & ~7
        bytesAllocated += aligned
        if aligned > Arena.chunkSize / 4 {
            // Large entry: its own chunk, so the current chunk's tail is not wasted.
            let chunk = UnsafeMutableRawPointer.allocate(byteCount: aligned, alignment: 8)
            chunks.append(chunk)
            bytesReserved += aligned
            return chunk
        }
        if current == nil || used + aligned > capacity {
            let chunk = UnsafeMutableRawPointer.allocate(byteCount: Arena.chunkSize, alignment: 8)
            chunks.append(chunk)
            bytesReserved += Arena.chunkSize
            current = chunk
            used = 0
            capacity = Arena.chunkSize
        }
        let result = current! + used
        used += aligned
        return result
    }
}
