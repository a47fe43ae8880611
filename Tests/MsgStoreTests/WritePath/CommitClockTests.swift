import Foundation
import Synchronization
import Testing
@testable import MsgStore

/// The commit clock is one atomic shared by the commit leader and
/// `Store.reserveCommitStamp()`: every value handed out is unique and orders
/// with every commit stamp.
@Suite struct CommitClockTests {
    @Test func aReservedStampOrdersBetweenTheCommitsAroundIt() throws {
        let directory = TestDirectory(); defer { directory.cleanUp() }
        let store = try Store.open(at: directory.path, tables: [TableSchema(name: "t", partitionCount: 1)])
        let table = try store.table("t")
        var stamps: [Int64] = []
        for i in 0..<200 {
            var batch = WriteBatch()
            batch.put(table, RowKey(partitionKey: [UInt8(i % 7)], sortKey: [UInt8(i)]), value: [])
            stamps.append(try store.write(batch, sync: false).timestamp)
            stamps.append(try store.reserveCommitStamp())
        }
        #expect(zip(stamps, stamps.dropFirst()).allSatisfy { $0 < $1 }, "stamps and reservations strictly increase")
        try store.close()
        #expect(throws: StoreError.self) { try store.reserveCommitStamp() }
    }

    @Test func concurrentReservationsAndCommitsNeverShareAValue() async throws {
        let directory = TestDirectory(); defer { directory.cleanUp() }
        let store = try Store.open(at: directory.path, tables: [TableSchema(name: "t", partitionCount: 2)],
                                   options: { var o = StoreOptions(); o.sync = .none; return o }())
        let table = try store.table("t")
        let values = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var mine: [Int64] = []
                    for i in 0..<250 {
                        if (worker + i) % 2 == 0 {
                            mine.append(try store.reserveCommitStamp())
                        } else {
                            var batch = WriteBatch()
                            batch.put(table, RowKey(partitionKey: [UInt8(worker)], sortKey: [UInt8(i % 256)]), value: [])
                            mine.append(try await store.write(batch).timestamp)
                        }
                    }
                    #expect(zip(mine, mine.dropFirst()).allSatisfy { $0 < $1 }, "increasing within one task")
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(Set(values).count == values.count, "no value handed out twice")
        try await store.close()
    }

    @Test func theClockNeverGoesBackBelowWhatItObserved() {
        let future = CommitClock.wallMicroseconds() + 60_000_000
        let clock = CommitClock(last: 0)
        clock.observe(future)
        #expect(clock.next() == future + 1)
        clock.observe(future - 10)
        #expect(clock.last == future + 1)
    }
}
