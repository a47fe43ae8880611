import Synchronization

/// Caches the results of point lookups — a row's value, or its absence — for
/// tables declared with ``TableSchema/cachesRows``, so that a hot row costs a
/// hash lookup instead of a walk through memtables and SSTables.
///
/// Consistency: every write to a cached table goes through ``invalidate``
/// (by the commit leader, before the write is published): it removes the
/// key and raises its shard's `lastWriteSequence`. A reader inserts what it
/// read at snapshot `S` only if `S ≥ lastWriteSequence` of the shard — i.e.
/// every write that touched the shard so far is in what it read — so a
/// stale result can never be cached. Insert and invalidate serialize on the
/// shard's lock. Eviction is CLOCK (second chance) within a byte budget;
/// invalidated entries free their slot at once.
final class RowCache: Sendable {
    /// What a lookup found.
    enum Cached: Sendable {
        case value([UInt8])
        case absent
    }

    /// A cached row's identity. The hash is computed once, eight bytes at a
    /// time (the standard `[UInt8]` hashing feeds SipHash one byte at a time).
    struct Key: Hashable, Sendable {
        let table: UInt32
        let userKey: [UInt8]
        let hash: UInt64

        init(table: UInt32, userKey: [UInt8]) {
            self.table = table
            self.userKey = userKey
            self.hash = userKey.withUnsafeBytes { RowCache.hash(table, $0) }
        }

        static func == (a: Key, b: Key) -> Bool {
            a.hash == b.hash && a.table == b.table && a.userKey == b.userKey
        }

        func hash(into hasher: inout Hasher) { hasher.combine(hash) }
    }

    /// A 64-bit hash of a table id and key bytes (multiply–xorshift over words).
    static func hash(_ table: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = UInt64(table) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var offset = 0
        while offset + 8 <= bytes.count {
            h = (h ^ bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 33
            offset += 8
        }
        while offset < bytes.count {
            h = (h ^ UInt64(bytes[offset])) &* 0xC4CE_B9FE_1A85_EC53
            offset += 1
        }
        h ^= h >> 29
        return h
    }

    /// One shard: a CLOCK cache (second chance) bounded by bytes. Entries
    /// live in `slots`; `map` finds a key's slot; freed slots are reused, so
    /// memory is bounded by the most entries the shard ever held at once.
    /// A hit sets the entry's reference bit; eviction sweeps the hand over
    /// the slots, clearing set bits and evicting the first entry found clear.
    private struct State: ~Copyable {
        struct Slot {
            var key: Key
            var value: Cached
            var referenced: Bool
        }
        var map: [Key: Int] = [:]
        var slots: [Slot?] = []
        var free: [Int] = []
        var hand = 0
        var bytes = 0
        var lastWriteSequence: UInt64 = 0
        var hits = 0
        var misses = 0

        mutating func remove(slot index: Int) {
            guard let slot = slots[index] else { return }
            slots[index] = nil
            map.removeValue(forKey: slot.key)
            free.append(index)
            bytes -= RowCache.charge(slot.key, slot.value)
        }

        /// Evicts until `bytes ≤ capacity`.
        mutating func evict(toFit capacity: Int) {
            var steps = 0
            while bytes > capacity, !slots.isEmpty, steps < 3 * slots.count {
                if hand >= slots.count { hand = 0 }
                if let slot = slots[hand] {
                    if slot.referenced {
                        slots[hand]!.referenced = false
                    } else {
                        remove(slot: hand)
                    }
                }
                hand += 1
                steps += 1
            }
            // Keep the slot array from holding mostly holes after a burst.
            if free.count > 64 && free.count * 2 > slots.count { compact() }
        }

        private mutating func compact() {
            let live = slots.compactMap { $0 }
            slots = live.map { Optional($0) }
            free.removeAll(keepingCapacity: false)
            map.removeAll(keepingCapacity: true)
            for (index, slot) in live.enumerated() { map[slot.key] = index }
            hand = 0
        }
    }

    private final class Shard: Sendable {
        let state = Mutex(State())
    }

    private let shards: [Shard]
    private let shardCapacity: Int

    init(capacityBytes: Int, shardCount: Int = 32) {
        shards = (0..<shardCount).map { _ in Shard() }
        shardCapacity = max(capacityBytes / shardCount, 1)
    }

    private func shard(_ hash: UInt64) -> Shard {
        shards[Int((hash >> 40) % UInt64(shards.count))]
    }

    fileprivate static func charge(_ key: Key, _ value: Cached) -> Int {
        if case .value(let bytes) = value { return key.userKey.count + bytes.count + 80 }
        return key.userKey.count + 80
    }

    /// The cached result for a key, if any.
    func lookup(table: UInt32, userKey: [UInt8]) -> Cached? {
        let key = Key(table: table, userKey: userKey)
        return shard(key.hash).state.withLock { state in
            if let index = state.map[key], let slot = state.slots[index] {
                state.hits += 1
                if !slot.referenced { state.slots[index]!.referenced = true }
                return slot.value
            }
            state.misses += 1
            return nil
        }
    }

    /// Caches what a read at `snapshot` found, unless a write the read may not
    /// have seen touched the shard since.
    func insert(table: UInt32, userKey: [UInt8], _ result: Cached, snapshot: UInt64) {
        let key = Key(table: table, userKey: userKey)
        let capacity = shardCapacity
        shard(key.hash).state.withLock { state in
            guard snapshot >= state.lastWriteSequence, state.map[key] == nil else { return }
            let charge = RowCache.charge(key, result)
            guard charge <= capacity else { return }
            let slot = State.Slot(key: key, value: result, referenced: false)
            let index: Int
            if let reused = state.free.popLast() {
                index = reused
                state.slots[index] = slot
            } else {
                index = state.slots.count
                state.slots.append(slot)
            }
            state.map[key] = index
            state.bytes += charge
            state.evict(toFit: capacity)
        }
    }

    /// Forgets a key that the write with `sequence` changes. REQUIRES: called
    /// before that write is published.
    func invalidate(table: UInt32, userKey: UnsafeRawBufferPointer, sequence: UInt64) {
        let hash = RowCache.hash(table, userKey)
        shard(hash).state.withLock { state in
            if sequence > state.lastWriteSequence { state.lastWriteSequence = sequence }
            guard !state.map.isEmpty else { return }
            let key = Key(table: table, userKey: Array(userKey))
            if let index = state.map[key] { state.remove(slot: index) }
        }
    }

    /// Entries and slots (live plus reusable) held, over all shards: slots
    /// never exceed the most entries held at once.
    var occupancy: (entries: Int, slots: Int) {
        shards.reduce((0, 0)) { total, shard in
            shard.state.withLock { (total.0 + $0.map.count, total.1 + $0.slots.count) }
        }
    }

    /// Hits, misses and bytes held, over all shards.
    var statistics: (hits: Int, misses: Int, bytes: Int) {
        shards.reduce((0, 0, 0)) { total, shard in
            shard.state.withLock { (total.0 + $0.hits, total.1 + $0.misses, total.2 + $0.bytes) }
        }
    }
}

extension RowCache.Cached: Equatable {}
