#if canImport(Glibc)
import Glibc
#endif

/// Keeps glibc malloc from holding memory the engine gave back:
/// - two arenas (`M_ARENA_MAX`): by default glibc creates up to 8 per core as
///   threads contend (the commit leader, the flush and compaction threads,
///   request handlers), and their fragmentation shows up as resident memory
///   the engine never asked for;
/// - a fixed 512 KiB mmap threshold (`M_MMAP_THRESHOLD`): memtable arena
///   chunks (1 MiB) and large compaction buffers are mapped and unmapped on
///   their own. Left dynamic, glibc raises the threshold after the first
///   such free and later large buffers come from the heap, which cannot
///   shrink past a live allocation (measured: 142 MiB resident for 38 MiB of
///   store data after the standard workload's reads; about 100 MiB with this);
/// - a 1 MiB trim threshold (`M_TRIM_THRESHOLD`): free heap tops go back to
///   the kernel. (Lower thresholds cost page faults and TLB shootdowns on
///   every unmap for little less memory.)
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
    _ = mallopt(mmapThreshold, 512 << 10)
    _ = mallopt(trimThreshold, 1 << 20)
    #endif
}
