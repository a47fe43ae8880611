#if canImport(Glibc)
import Glibc
#endif

/// Keeps glibc malloc from holding memory the engine gave back:
/// - two arenas (`M_ARENA_MAX`): by default glibc creates up to 8 per core as
///   threads contend (the commit leader, the flush and compaction threads,
///   request handlers), and their fragmentation shows up as resident memory
///   the engine never asked for;
/// - a fixed 128 KiB mmap threshold (`M_MMAP_THRESHOLD`): memtable arena
///   chunks, SSTable buffers and decompressed blocks are mapped and unmapped
///   on their own. Left dynamic, glibc raises the threshold after the first
///   such free and later large buffers come from the heap, which cannot
///   shrink past a live allocation (measured: 142 MiB resident for 38 MiB of
///   store data after the standard workload's reads; 95 MiB with this);
/// - a 128 KiB trim threshold (`M_TRIM_THRESHOLD`): free heap tops go back to
///   the kernel.
/// `mallopt` is not in Swift's Glibc module, so it is looked up at run time;
/// elsewhere this does nothing. Call before starting threads.
func configureMalloc() {
    #if canImport(Glibc)
    typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    // <malloc.h>
    let arenaMax: Int32 = -8, mmapThreshold: Int32 = -3, trimThreshold: Int32 = -1
    guard let symbol = dlsym(nil, "mallopt") else { return }
    let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
    _ = mallopt(arenaMax, 2)
    _ = mallopt(mmapThreshold, 128 << 10)
    _ = mallopt(trimThreshold, 128 << 10)
    #endif
}
