import Testing
@testable import MsgStore

@Suite struct BlockCacheTests {
    /// A block whose memory charge is about `size` bytes.
    static func block(size: Int) -> Block {
        var bytes = [UInt8](repeating: 0, count: Swift.max(0, size - 96 - 8))
        bytes += [0, 0, 0, 0, 1, 0, 0, 0]
        return try! Block.make(copying: bytes, file: "t", fileOffset: 0)
    }

    static func key(_ offset: UInt64, file: UInt64 = 1) -> BlockCache.Key { .init(fileNumber: file, offset: offset) }

    @Test func hitMissAndInsertCounters() {
        let cache = BlockCache(capacityBytes: 100_000, shardCount: 1)
        #expect(cache.lookup(Self.key(0)) == nil)
        let block = Self.block(size: 1000)
        cache.insert(Self.key(0), block)
        #expect(cache.lookup(Self.key(0)) === block)
        #expect(cache.lookup(Self.key(0, file: 2)) == nil)
        let stats = cache.statistics
        #expect(stats.hits == 1)
        #expect(stats.misses == 2)
        #expect(stats.inserts == 1)
        #expect(stats.evictions == 0)
        #expect(stats.entryCount == 1)
        #expect(stats.usageBytes == block.memoryCharge)
    }

    @Test func budgetIsRespected() {
        let cache = BlockCache(capacityBytes: 10_000, shardCount: 4)
        for offset in 0..<200 { cache.insert(Self.key(UInt64(offset) * 4096), Self.block(size: 1000)) }
        let stats = cache.statistics
        #expect(stats.usageBytes <= 10_000)
        #expect(stats.evictions == stats.inserts - stats.entryCount)
        #expect(stats.entryCount >= 4)
    }

    @Test func leastRecentlyUsedIsEvictedFirst() {
        let charge = Self.block(size: 1000).memoryCharge
        let cache = BlockCache(capacityBytes: charge * 3, shardCount: 1)
        cache.insert(Self.key(1), Self.block(size: 1000))
        cache.insert(Self.key(2), Self.block(size: 1000))
        cache.insert(Self.key(3), Self.block(size: 1000))
        _ = cache.lookup(Self.key(1))  // 2 is now the least recent
        cache.insert(Self.key(4), Self.block(size: 1000))
        #expect(cache.lookup(Self.key(2)) == nil)
        #expect(cache.lookup(Self.key(1)) != nil)
        #expect(cache.lookup(Self.key(3)) != nil)
        #expect(cache.lookup(Self.key(4)) != nil)
        #expect(cache.statistics.evictions == 1)
    }

    @Test func reinsertReplacesWithoutDoubleCharging() {
        let cache = BlockCache(capacityBytes: 100_000, shardCount: 1)
        cache.insert(Self.key(7), Self.block(size: 1000))
        let second = Self.block(size: 2000)
        cache.insert(Self.key(7), second)
        #expect(cache.lookup(Self.key(7)) === second)
        #expect(cache.statistics.entryCount == 1)
        #expect(cache.statistics.usageBytes == second.memoryCharge)
    }

    @Test func blockLargerThanAShardIsNotCached() {
        let cache = BlockCache(capacityBytes: 4000, shardCount: 2)
        cache.insert(Self.key(1), Self.block(size: 3000))
        #expect(cache.lookup(Self.key(1)) == nil)
        #expect(cache.statistics.usageBytes == 0)
    }

    @Test func evictedBlockStaysValidForItsHolder() throws {
        let cache = BlockCache(capacityBytes: 2000, shardCount: 1)
        var builder = BlockBuilder(restartInterval: 2)
        builder.add(InternalKey.make(userKey: [1], sequence: 1, kind: .value), [42])
        let block = try Block.make(copying: builder.finish(), file: "t", fileOffset: 0)
        cache.insert(Self.key(1), block)
        let held = cache.lookup(Self.key(1))!
        for offset in 2..<20 { cache.insert(Self.key(UInt64(offset)), Self.block(size: 900)) }
        #expect(cache.lookup(Self.key(1)) == nil)
        var cursor = BlockCursor(block: held, keyBuffer: ScratchBuffer(), internalKeys: true)
        try cursor.seekToFirst()
        #expect(Array(cursor.value) == [42])
    }

    @Test func removeAllOfAFile() {
        let cache = BlockCache(capacityBytes: 100_000, shardCount: 4)
        for offset in 0..<10 {
            cache.insert(Self.key(UInt64(offset), file: 1), Self.block(size: 500))
            cache.insert(Self.key(UInt64(offset), file: 2), Self.block(size: 500))
        }
        cache.removeAll(fileNumber: 1)
        #expect(cache.statistics.entryCount == 10)
        #expect(cache.lookup(Self.key(3, file: 1)) == nil)
        #expect(cache.lookup(Self.key(3, file: 2)) != nil)
    }

    @Test func concurrentUseKeepsCountersConsistent() async {
        let cache = BlockCache(capacityBytes: 50_000, shardCount: 8)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for i in 0..<2000 {
                        let key = Self.key(UInt64((i * 7 + worker) % 300))
                        if cache.lookup(key) == nil { cache.insert(key, Self.block(size: 700)) }
                    }
                }
            }
        }
        let stats = cache.statistics
        #expect(stats.hits + stats.misses == 8000)
        #expect(stats.usageBytes <= 50_000)
        #expect(stats.entryCount <= stats.inserts - stats.evictions)  // less when two workers inserted one key
    }
}
