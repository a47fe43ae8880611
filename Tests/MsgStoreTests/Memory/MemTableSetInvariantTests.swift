import Testing
@testable import MsgStore

/// ``MemTableSet``'s invariants: no rotation candidate outlives its group,
/// and the active gauge equals the active memtables' bytes.
@Suite struct MemTableSetInvariantTests {
    @Test func brokenBookkeepingIsDetected() {
        #expect(MemTableSet.invariantViolations(candidates: 0, activeGauge: 4096, activeBytes: 4096).isEmpty)
        #expect(MemTableSet.invariantViolations(candidates: 2, activeGauge: 0, activeBytes: 0).contains { $0.contains("2 rotation candidates") })
        #expect(MemTableSet.invariantViolations(candidates: 0, activeGauge: 10, activeBytes: 12).contains { $0.contains("gauge") })
    }

    @Test func writesAndRotationsKeepTheInvariants() throws {
        let directory = TestDirectory()
        let store = try TestSchema.open(directory, options: ManifestTests.smallOptions)
        let kv = try store.table("kv")
        for i in 0..<300 {
            var batch = WriteBatch()
            batch.put(kv, RowKey(partitionKey: [UInt8(i % 4)], sortKey: [UInt8(i / 256), UInt8(i % 256)]),
                      value: [UInt8](repeating: 2, count: 50))
            try store.write(batch)
        }
        try store.engine.pipeline.withExclusiveLeadership { store.engine.memtables.checkInvariants() }
        try store.flush()
        try store.engine.pipeline.withExclusiveLeadership { store.engine.memtables.checkInvariants() }
        #expect(store.statistics.activeMemtableBytes == 0)
        try store.close()
    }
}
