#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The descriptors of the open SSTables, under a cap: LevelDB's table cache
/// (`max_open_files`). An ``SSTableReader`` keeps its index, filters,
/// properties and dictionary in memory for its whole life, but reads its
/// data blocks through a ``TableFile``: a slot whose descriptor is opened on
/// demand and closed again when more than ``capacity`` are open.
///
/// **Eviction** is CLOCK (second chance, an approximation of least recently
/// used that needs no lock on the read path): every read sets its slot's
/// *referenced* bit; to make room the cache sweeps its open slots, clears
/// referenced bits, and closes the first slot it finds unreferenced and
/// unpinned; it makes room before a descriptor is opened, and again when
/// the new one joins. A slot being read (pinned) is never closed: when every
/// open slot is pinned, the cache goes over its cap, and the read that
/// unpins last trims it back. So at most `capacity` descriptors are open,
/// plus about one per thread reading SSTables at that moment (its read in
/// flight, or a descriptor it is opening or closing).
///
/// **Locks.** The cache's own lock guards the list of open slots, the clock
/// hand, and each slot's `file` and `listIndex`. A slot's `transition` lock
/// serializes opening and retiring that slot, and is taken before the
/// cache's lock. Neither is held while taking any other engine lock (they
/// are leaves of the engine's lock order, see ``VersionLock``); the
/// descriptors of evicted slots are closed after the cache's lock is
/// released.
final class TableFileCache: Sendable {
    /// Descriptors kept open, at most (pinned ones may exceed it briefly).
    let capacity: Int

    /// Guarded by `registry`'s lock: the open slots in clock order, the hand,
    /// and whether ``close()`` was called (no descriptor opens any more).
    struct Registry {
        var open: [TableFile] = []
        var hand = 0
        var closed = false
    }
    let registry = Mutex(Registry())
    /// What the read path compares the open count with: ``capacity``, 0 once closed.
    private let limit: Atomic<Int>

    /// `registry.open.count`, readable without the lock (the read path's
    /// "over the cap?" test after each unpin). Written under the lock.
    private let openCount = Atomic<Int>(0)
    /// Descriptors opened again for a read after their slot was closed.
    private let reopenCount = Atomic<UInt64>(0)
    /// Slots closed to respect the cap.
    private let evictionCount = Atomic<UInt64>(0)

    /// A cache keeping at most `capacity` (at least 1) descriptors open.
    init(capacity: Int) {
        self.capacity = Swift.max(1, capacity)
        limit = Atomic(self.capacity)
    }

    /// Counters since creation.
    struct Statistics: Sendable, Equatable {
        /// Descriptors open now (pinned ones included).
        var openFiles = 0
        /// Descriptors opened again for a read after eviction.
        var reopens: UInt64 = 0
        /// Descriptors closed to respect the cap.
        var evictions: UInt64 = 0
    }

    /// The counters, read now.
    var statistics: Statistics {
        Statistics(openFiles: openCount.load(ordering: .relaxed), reopens: reopenCount.load(ordering: .relaxed),
                   evictions: evictionCount.load(ordering: .relaxed))
    }

    /// A slot for the SSTable at `path` that starts with `file`, already open
    /// for reading: the slot owns it from here (and may close it at once, if
    /// the cache is full of more recently used slots).
    func adopt(_ file: any StorageFile, path: String, fileSystem: any FileSystem) -> TableFile {
        let slot = TableFile(path: path, fileSystem: fileSystem, cache: self)
        if !install(slot, file, pinned: false) { try? file.close() }
        return slot
    }

    /// Whether more slots are open than the cap (two relaxed loads).
    @inline(__always)
    var isOverCapacity: Bool { openCount.load(ordering: .relaxed) > limit.load(ordering: .relaxed) }

    /// Closes unpinned slots until at most ``capacity`` are open (or only
    /// pinned ones are left); all of them once the cache is closed.
    func trim() {
        let victims = registry.withLock { registry in evict(&registry, keeping: registry.closed ? 0 : capacity) }
        Self.close(victims)
    }

    /// Closes unpinned slots until one place is free under the cap: called
    /// before opening a descriptor, so that the new one does not overshoot.
    func makeRoom() {
        guard openCount.load(ordering: .relaxed) >= capacity else { return }
        let victims = registry.withLock { registry in evict(&registry, keeping: capacity - 1) }
        Self.close(victims)
    }

    /// Closes every descriptor (one in use by a read when that read ends) and
    /// opens none any more: later reads through the cache's slots throw
    /// ``StoreError/Code/closed``. For `Store.close()`. Idempotent.
    func close() {
        let victims = registry.withLock { registry in
            registry.closed = true
            limit.store(0, ordering: .relaxed)
            return evict(&registry, keeping: 0)
        }
        Self.close(victims)
    }

    /// Makes `slot` open with `file` (and pinned once, if `pinned`), evicting
    /// others to make room; false (nothing done) once the cache is closed.
    /// REQUIRES: `slot` is neither open nor retired, and no other thread
    /// opens or retires it meanwhile (its transition lock is held, or nobody
    /// else knows it yet).
    fileprivate func install(_ slot: TableFile, _ file: any StorageFile, pinned: Bool) -> Bool {
        let victims = registry.withLock { registry -> [any StorageFile]? in
            guard !registry.closed else { return nil }
            let victims = evict(&registry, keeping: capacity - 1)
            slot.file = file
            slot.listIndex = registry.open.count
            registry.open.append(slot)
            openCount.store(registry.open.count, ordering: .relaxed)
            slot.publishOpen(pinned: pinned)
            return victims
        }
        guard let victims else { return false }
        Self.close(victims)
        return true
    }

    /// Retires `slot` if its state is still `expected` (no pins): takes its
    /// descriptor out of the cache. Returns whether the state matched, and
    /// the descriptor to close (nil if the slot was not open).
    fileprivate func retire(_ slot: TableFile, expected: Int) -> (retired: Bool, file: (any StorageFile)?) {
        registry.withLock { registry in
            guard slot.claim(expected: expected, desired: TableFile.retiredBit) else { return (false, nil) }
            guard expected & TableFile.openBit != 0 else { return (true, nil) }
            return (true, take(slot, from: &registry))
        }
    }

    /// Counts a descriptor opened again for a read.
    fileprivate func countReopen() { reopenCount.add(1, ordering: .relaxed) }

    // MARK: Under the lock

    /// Closes (claims and takes out) unpinned slots in clock order until at
    /// most `limit` remain open; two sweeps at most (the first may only clear
    /// referenced bits). Returns the descriptors to close once the lock is released.
    private func evict(_ registry: inout Registry, keeping limit: Int) -> [any StorageFile] {
        var victims: [any StorageFile] = []
        var steps = 0
        let maxSteps = 2 * registry.open.count
        while registry.open.count > limit && steps < maxSteps {
            steps += 1
            if registry.hand >= registry.open.count { registry.hand = 0 }
            let slot = registry.open[registry.hand]
            let state = slot.currentState
            if TableFile.pins(state) > 0 {
                registry.hand += 1
            } else if state & TableFile.referencedBit != 0 {
                slot.clearReferenced(expected: state)  // second chance (a pin that lands first keeps it)
                registry.hand += 1
            } else if slot.claim(expected: state, desired: 0) {
                victims.append(take(slot, from: &registry))  // the slot now at `hand` is the next candidate
            } else {
                registry.hand += 1
            }
        }
        evictionCount.add(UInt64(victims.count), ordering: .relaxed)
        return victims
    }

    /// Removes a claimed slot from the open list and takes its descriptor.
    private func take(_ slot: TableFile, from registry: inout Registry) -> any StorageFile {
        let index = slot.listIndex
        precondition(index >= 0 && index < registry.open.count && registry.open[index] === slot, "TableFileCache: slot not in its place")
        let last = registry.open.removeLast()
        if index < registry.open.count {
            registry.open[index] = last
            last.listIndex = index
        }
        slot.listIndex = -1
        openCount.store(registry.open.count, ordering: .relaxed)
        let file = slot.file!
        slot.file = nil
        return file
    }

    private static func close(_ files: [any StorageFile]) {
        for file in files { try? file.close() }
    }

    #if DEBUG
    /// Checks the invariants: every listed slot is open, at its index, with a
    /// descriptor; the count mirrors the list. A violation stops the process.
    func checkInvariants() {
        registry.withLock { registry in
            precondition(openCount.load(ordering: .relaxed) == registry.open.count, "TableFileCache: count differs from the list")
            for (index, slot) in registry.open.enumerated() {
                precondition(slot.listIndex == index, "TableFileCache: slot index \(slot.listIndex) at \(index)")
                precondition(slot.currentState & TableFile.openBit != 0 && slot.file != nil, "TableFileCache: listed slot not open")
            }
        }
    }
    #endif
}

/// One SSTable's descriptor in a ``TableFileCache``: opened on demand,
/// pinned for the length of each `pread`, closed by the cache (least
/// recently used first) when it is over its cap, or by ``close()``.
///
/// The unsafe part of the table cache is fenced here. Its invariants:
///
/// 1. `state` packs three flags and a pin count: *open* (`file` holds an
///    open descriptor), *referenced* (read since the clock hand last
///    passed), *retired* (closed for good), and the number of reads in
///    flight (pins, from bit 3). A pin is taken only by a compare-and-swap
///    from a state with *open* set, so the pin count is 0 whenever *open*
///    is clear.
/// 2. *open* is cleared only by a compare-and-swap (under the cache's lock)
///    from a state with no pins — by the evictor or by ``close()``. So a
///    descriptor is never closed while a `pread` on it is in flight, and a
///    read never uses a descriptor number that was closed (and maybe reused
///    by another file) under it.
/// 3. `file` is written only under the cache's lock while *open* is clear
///    (before *open* is published with a releasing store, after it was
///    cleared by an acquiring compare-and-swap), and read without the lock
///    only by a thread holding a pin. The pin's acquiring compare-and-swap
///    orders that read after the write; the unpin's releasing decrement
///    orders it before the next clear.
/// 4. Opening (on a read that finds the slot closed) and retiring hold the
///    slot's `transition` lock, so a slot is opened by one thread at a time
///    and never after it was retired.
final class TableFile: @unchecked Sendable {
    /// The SSTable's path.
    let path: String
    private let fileSystem: any FileSystem
    private let cache: TableFileCache

    static let openBit = 1
    static let referencedBit = 2
    static let retiredBit = 4
    static let pinUnit = 8

    private let state = Atomic<Int>(0)
    private let transition = Mutex(())
    /// The open descriptor: see invariant 3.
    @exclusivity(unchecked) fileprivate var file: (any StorageFile)?
    /// Position in the cache's open list (-1: not listed). Guarded by the cache's lock.
    @exclusivity(unchecked) fileprivate var listIndex = -1

    fileprivate init(path: String, fileSystem: any FileSystem, cache: TableFileCache) {
        self.path = path
        self.fileSystem = fileSystem
        self.cache = cache
    }

    deinit {
        // A slot is listed only while open, and the list holds it: one being
        // deinitialized is closed, or was never opened.
        assert(file == nil, "TableFile: deinitialized with an open descriptor")
    }

    /// Reads up to `buffer.count` bytes at `offset` (see ``StorageFile/read(into:at:)``),
    /// opening the file first if the cache closed it. Throws ``StoreError``
    /// naming the file if it cannot be opened again (`.io` with the `errno`
    /// for EMFILE and the like; `.corruption` if the file is gone) or was
    /// closed by ``close()`` (`.closed`).
    @inline(__always)
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        if !pinIfOpen() { try openPinned() }
        defer { unpin() }
        return try file.unsafelyUnwrapped.read(into: buffer, at: offset)
    }

    /// Whether the descriptor is open now (it may be closed a moment later).
    var isOpen: Bool { state.load(ordering: .relaxed) & Self.openBit != 0 }

    /// Closes the descriptor for good: later reads throw `.closed`. Waits for
    /// reads in flight (a `pread` each) to finish first. Idempotent.
    func close() throws {
        let file: (any StorageFile)? = transition.withLock { _ in
            while true {
                let state = self.state.load(ordering: .acquiring)
                if state & Self.retiredBit != 0 { return nil }
                if Self.pins(state) > 0 {
                    sched_yield()  // a read is between its pin and its unpin: one pread
                    continue
                }
                let outcome = cache.retire(self, expected: state)
                if outcome.retired { return outcome.file }
            }
        }
        try file?.close()
    }

    // MARK: Pins

    /// Pins the slot if it is open (the fast path: one load, one compare-and-swap).
    @inline(__always)
    private func pinIfOpen() -> Bool {
        var current = state.load(ordering: .relaxed)
        while current & Self.openBit != 0 {
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: (current &+ Self.pinUnit) | Self.referencedBit, ordering: .acquiring)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Opens the file again and pins it (the slow path), unless another
    /// thread opened it meanwhile.
    private func openPinned() throws {
        try transition.withLock { _ in
            if pinIfOpen() { return }
            if state.load(ordering: .acquiring) & Self.retiredBit != 0 {
                throw StoreError(.closed, "the SSTable was closed", file: path)
            }
            cache.makeRoom()
            let opened: any StorageFile
            do {
                opened = try fileSystem.open(path, mode: .read)
            } catch {
                throw Self.reopenError(error, path: path)
            }
            guard cache.install(self, opened, pinned: true) else {
                try? opened.close()
                throw StoreError(.closed, "the store is closed", file: path)
            }
            cache.countReopen()
        }
    }

    @inline(__always)
    private func unpin() {
        state.wrappingSubtract(Self.pinUnit, ordering: .releasing)  // (one `lock xadd`: no overflow check loop)
        if cache.isOverCapacity { cache.trim() }
    }

    // MARK: For the cache (under its lock)

    static func pins(_ state: Int) -> Int { state / pinUnit }

    fileprivate var currentState: Int { state.load(ordering: .relaxed) }

    /// Publishes *open* (+ referenced, + one pin). REQUIRES: the cache's lock; `file` set.
    fileprivate func publishOpen(pinned: Bool) {
        assert(state.load(ordering: .relaxed) & ~Self.referencedBit == 0, "TableFile: opened while open, pinned or retired")
        state.store(Self.openBit | Self.referencedBit | (pinned ? Self.pinUnit : 0), ordering: .releasing)
    }

    /// Moves the state from `expected` (which must have no pins) to `desired`.
    fileprivate func claim(expected: Int, desired: Int) -> Bool {
        assert(Self.pins(expected) == 0)
        return state.compareExchange(expected: expected, desired: desired, ordering: .acquiringAndReleasing).exchanged
    }

    fileprivate func clearReferenced(expected: Int) {
        _ = state.compareExchange(expected: expected, desired: expected & ~Self.referencedBit, ordering: .relaxed)
    }

    /// What a failed reopen surfaces as: the file named; a missing file is
    /// corruption (the manifest still lists it); EMFILE and other failures
    /// keep their code (`.io`, with the errno) — transient for compaction,
    /// `unavailable` for the server.
    static func reopenError(_ error: any Error, path: String) -> StoreError {
        guard let error = error as? StoreError else {
            return StoreError(.io, "opening the SSTable again for a read failed: \(error)", file: path)
        }
        if error.code == .notFound {
            return StoreError(.corruption, "the SSTable is missing (opening it again for a read failed: \(error.message))",
                              file: path, errno: error.errno)
        }
        return StoreError(error.code, "opening the SSTable again for a read failed: \(error.message)", file: path, errno: error.errno)
    }
}
