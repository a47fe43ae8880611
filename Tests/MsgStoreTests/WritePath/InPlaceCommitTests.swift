import Foundation
import Synchronization
import Testing
@testable import MsgStore

/// An unsynced async write that finds the commit pipeline idle leads its
/// group in place on the caller's thread; the work after such a group that
/// may block (log rolls, memtable rotations) is left to the log thread.
@Suite struct InPlaceCommitTests {
    @Test func unsyncedAsyncWritesOnAnIdleStoreLeadInPlaceAndSyncedOnesDoNot() async throws {
        let dir = TestDirectory("inplace-commit"); defer { dir.cleanUp() }
        var options = StoreOptions()
        options.sync = .none
        let store = try Store.open(at: dir.path, tables: [TableSchema(name: "t", partitionCount: 2)], options: options)
        let table = try store.table("t")
        for index in 0..<50 {
            var batch = WriteBatch()
            batch.put(table, RowKey(partitionKey: Array("k\(index)".utf8)), value: Array("v\(index)".utf8))
            try await store.write(batch)
        }
        #expect(store.statistics.inPlaceCommitGroups == 50)
        let syncsBefore = store.statistics.logSyncs
        for index in 0..<5 {
            var batch = WriteBatch()
            batch.put(table, RowKey(partitionKey: Array("s\(index)".utf8)), value: [1])
            try await store.write(batch, sync: true)
        }
        #expect(store.statistics.inPlaceCommitGroups == 50)  // a synced batch goes to the log thread
        #expect(store.statistics.logSyncs >= syncsBefore + 5)
        try await store.close()
    }

    @Test func inPlaceLeadersLeaveRollsAndRotationsToTheLogThreadAndNothingIsLost() async throws {
        let dir = TestDirectory("inplace-rolls"); defer { dir.cleanUp() }
        let options = StoreOptions.tinyLSM(memtableBudgetBytes: 16 << 10)  // 16 KiB log segments, 1 KiB memtables
        let schema = [TableSchema(name: "t", partitionCount: 4)]
        let tasks = 6, perTask = 200
        do {
            let store = try Store.open(at: dir.path, tables: schema, options: options)
            let table = try store.table("t")
            // Every log roll runs off any task: on the log thread, never on an in-place leader.
            let rolls = RollTally()
            store.engine.testHooks.set(.logRollBeforeCreate) {
                rolls.record(onATask: withUnsafeCurrentTask { $0 != nil })
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        for index in 0..<perTask {
                            let key = RowKey(partitionKey: Array("t\(task)".utf8), sortKey: Array(String(format: "%05d", index).utf8))
                            var batch = WriteBatch()
                            batch.put(table, key, value: Array(repeating: UInt8(index % 251), count: 40))
                            // Every 25th write synced: groups led by the log thread mix with in-place ones.
                            try await store.write(batch, sync: index % 25 == 0)
                            // Visible to its writer as soon as the write returns.
                            #expect(try store.get(table, key) == Array(repeating: UInt8(index % 251), count: 40))
                        }
                    }
                }
                try await group.waitForAll()
            }
            store.engine.testHooks.set(.logRollBeforeCreate, nil)
            #expect(rolls.offTask > 0)
            #expect(rolls.onATask == 0)
            let statistics = store.statistics
            #expect(statistics.inPlaceCommitGroups > 0)
            #expect(statistics.flushes > 0)  // rotations happened (on the log thread after in-place groups)
            #expect(statistics.logBytesWritten > 4 * 16 << 10)  // several segments' worth: rolls happened
            try await store.close()
        }
        let store = try Store.open(at: dir.path, tables: schema, options: options)
        let table = try store.table("t")
        for task in 0..<tasks {
            let rows = try store.scan(table, partitionKey: Array("t\(task)".utf8), limit: .max)
            #expect(rows.count == perTask)
            #expect(rows.enumerated().allSatisfy { $0.element.value == Array(repeating: UInt8($0.offset % 251), count: 40) })
        }
        try await store.close()
    }
}

/// Log rolls seen by a test hook, by whether they ran on a Swift task.
private final class RollTally: Sendable {
    private let counts = Mutex<(onATask: Int, offTask: Int)>((0, 0))
    func record(onATask: Bool) { counts.withLock { if onATask { $0.onATask += 1 } else { $0.offTask += 1 } } }
    var onATask: Int { counts.withLock { $0.onATask } }
    var offTask: Int { counts.withLock { $0.offTask } }
}
