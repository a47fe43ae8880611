@testable import MsgStore

extension StoreOptions {
    /// A store whose LSM tree moves at once: 1 KiB memtables and SSTables,
    /// 256-byte blocks, L0 compacted at two files, 2 KiB level base doubling
    /// per level, 16 KiB log segments, no dictionary, no sync. A few hundred
    /// writes go through many flushes, compactions, levels and log rolls.
    static func tinyLSM(memtableBudgetBytes: Int) -> StoreOptions {
        var options = StoreOptions()
        options.sync = .none
        options.memtableBytes = 1 << 10
        options.memtableBudgetBytes = memtableBudgetBytes
        options.level0CompactionTrigger = 2
        options.levelBaseBytes = 2 << 10
        options.levelMultiplier = 2
        options.targetFileBytes = 1 << 10
        options.blockBytes = 256
        options.dictionaryBytes = 0
        options.walSegmentBytes = 16 << 10
        options.preallocateLog = false
        return options
    }
}
