#if canImport(Glibc)
import Glibc
#endif

/// Limits glibc malloc to two arenas (`mallopt(M_ARENA_MAX, 2)`). By default
/// glibc creates up to 8 per core as threads contend (the commit leader, the
/// flush and compaction threads, request handlers), and their fragmentation
/// shows up as resident memory the engine never asked for. `mallopt` is not in
/// Swift's Glibc module, so it is looked up at run time; elsewhere this does
/// nothing. Call before starting threads.
func limitMallocArenas() {
    #if canImport(Glibc)
    typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
    let arenaMax: Int32 = -8  // M_ARENA_MAX in <malloc.h>
    guard let symbol = dlsym(nil, "mallopt") else { return }
    _ = unsafeBitCast(symbol, to: Mallopt.self)(arenaMax, 2)
    #endif
}
