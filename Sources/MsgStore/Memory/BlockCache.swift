import Synchronization

/// Decoded data blocks shared by all table readers, under a byte budget.
///
/// Sharded LRU (RocksDB's `LRUCache`): a key hashes to one of `shardCount`
/// shards, each with its own `Mutex`, hash map and recency list, and a budget
/// of `capacityBytes / shardCount`. Inserting past the budget evicts the
/// least recently used blocks of that shard. A block bigger than a shard's
/// budget is not cached. Blocks are reference counted, so an evicted block
/// stays alive for the iterators still reading it.
final class BlockCache: Sendable {
    /// Identifies a block: the file it belongs to and its offset there.
    struct Key: Hashable, Sendable {
        /// The SSTable's file number.
        var fileNumber: UInt64
        /// Offset of the block in the file.
        var offset: UInt64
    }

    /// Counters since creation.
    struct Statistics: Sendable, Equatable {
        /// Lookups that found the block.
        var hits = 0
        /// Lookups that did not.
        var misses = 0
        /// Blocks inserted.
        var inserts = 0
        /// Blocks evicted to respect the budget.
        var evictions = 0
        /// Bytes charged by the blocks held now.
        var usageBytes = 0
        /// Blocks held now.
        var entryCount = 0
    }

    /// The byte budget over all shards.
    let capacityBytes: Int
    private let shards: [Shard]

    /// Creates a cache of `capacityBytes`, split over `shardCount` shards
    /// (rounded up to a power of two).
    init(capacityBytes: Int, shardCount: Int = 16) {
        var count = 1
        while count < Swift.max(1, shardCount) { count *= 2 }
        self.capacityBytes = capacityBytes
        let perShard = capacityBytes / count
        shards = (0..<count).map { _ in Shard(capacityBytes: perShard) }
    }

    @inline(__always)
    private func shard(for key: Key) -> Shard {
        var h = key.fileNumber &* 0x9E37_79B9_7F4A_7C15 ^ (key.offset &* 0xC2B2_AE3D_27D4_EB4F)
        h ^= h >> 29
        return shards[Int(h & UInt64(shards.count - 1))]
    }

    /// The block cached under `key`, marked most recently used; `nil` on a miss.
    func lookup(_ key: Key) -> Block? { shard(for: key).lookup(key) }

    /// Caches `block` under `key` (replacing any block there), evicting least
    /// recently used blocks of its shard to stay within budget.
    func insert(_ key: Key, _ block: Block) { shard(for: key).insert(key, block, charge: block.memoryCharge) }

    /// Whether any block of `fileNumber` is cached.
    func holdsBlocks(ofFile fileNumber: UInt64) -> Bool {
        shards.contains { $0.holds { $0.fileNumber == fileNumber } }
    }

    /// Drops every block of `fileNumber` (after the file is deleted).
    /// - Complexity: O(n) in the number of cached blocks.
    func removeAll(fileNumber: UInt64) {
        for shard in shards { shard.removeAll { $0.fileNumber == fileNumber } }
    }

    /// The counters summed over all shards.
    var statistics: Statistics {
        var total = Statistics()
        for shard in shards {
            let s = shard.statistics
            total.hits += s.hits
            total.misses += s.misses
            total.inserts += s.inserts
            total.evictions += s.evictions
            total.usageBytes += s.usageBytes
            total.entryCount += s.entryCount
        }
        return total
    }
}

extension BlockCache {
    /// One shard: an LRU list threaded through arrays (no node allocations),
    /// behind a mutex.
    fileprivate final class Shard: Sendable {
        private let state: Mutex<LRUState>
        init(capacityBytes: Int) { state = Mutex(LRUState(capacityBytes: capacityBytes)) }

        func lookup(_ key: Key) -> Block? { state.withLock { $0.lookup(key) } }

        func insert(_ key: Key, _ block: Block, charge: Int) {
            // Evicted blocks are released outside the lock (their deinit frees memory).
            let evicted = state.withLock { $0.insert(key, block, charge: charge) }
            _ = evicted
        }

        func removeAll(where predicate: (Key) -> Bool) {
            let removed = state.withLock { $0.removeAll(where: predicate) }
            _ = removed
        }

        func holds(where predicate: (Key) -> Bool) -> Bool { state.withLock { $0.holds(where: predicate) } }

        var statistics: Statistics { state.withLock { $0.statistics } }
    }

    /// The LRU of one shard. Slots form a doubly linked list from `head`
    /// (most recent) to `tail` (least recent); free slots are chained by `next`.
    fileprivate struct LRUState: ~Copyable {
        let capacityBytes: Int
        private var slotOf: [Key: Int] = [:]
        private var keys: [Key] = []
        private var blocks: [Block?] = []
        private var charges: [Int] = []
        private var previous: [Int] = []
        private var next: [Int] = []
        private var head = -1
        private var tail = -1
        private var free = -1
        var statistics = Statistics()

        init(capacityBytes: Int) { self.capacityBytes = capacityBytes }

        func holds(where predicate: (Key) -> Bool) -> Bool { slotOf.keys.contains(where: predicate) }

        mutating func lookup(_ key: Key) -> Block? {
            guard let slot = slotOf[key] else {
                statistics.misses += 1
                return nil
            }
            statistics.hits += 1
            moveToFront(slot)
            return blocks[slot]
        }

        mutating func insert(_ key: Key, _ block: Block, charge: Int) -> [Block] {
            var released: [Block] = []
            if let slot = slotOf[key] { released.append(remove(slot)) }
            guard charge <= capacityBytes else { return released }
            while statistics.usageBytes + charge > capacityBytes, tail >= 0 {
                released.append(remove(tail))
                statistics.evictions += 1
            }
            let slot: Int
            if free >= 0 {
                slot = free
                free = next[slot]
                keys[slot] = key
                blocks[slot] = block
                charges[slot] = charge
            } else {
                slot = keys.count
                keys.append(key)
                blocks.append(block)
                charges.append(charge)
                previous.append(-1)
                next.append(-1)
            }
            slotOf[key] = slot
            linkAtFront(slot)
            statistics.inserts += 1
            statistics.usageBytes += charge
            statistics.entryCount += 1
            return released
        }

        mutating func removeAll(where predicate: (Key) -> Bool) -> [Block] {
            var released: [Block] = []
            for (key, slot) in slotOf where predicate(key) { released.append(remove(slot)) }
            return released
        }

        /// Unlinks `slot`, frees it, returns its block.
        private mutating func remove(_ slot: Int) -> Block {
            unlink(slot)
            slotOf[keys[slot]] = nil
            let block = blocks[slot]!
            blocks[slot] = nil
            statistics.usageBytes -= charges[slot]
            statistics.entryCount -= 1
            next[slot] = free
            free = slot
            return block
        }

        private mutating func moveToFront(_ slot: Int) {
            guard head != slot else { return }
            unlink(slot)
            linkAtFront(slot)
        }

        private mutating func unlink(_ slot: Int) {
            let p = previous[slot], n = next[slot]
            if p >= 0 { next[p] = n } else { head = n }
            if n >= 0 { previous[n] = p } else { tail = p }
            previous[slot] = -1
            next[slot] = -1
        }

        private mutating func linkAtFront(_ slot: Int) {
            previous[slot] = -1
            next[slot] = head
            if head >= 0 { previous[head] = slot }
            head = slot
            if tail < 0 { tail = slot }
        }
    }
}
