import Testing
@testable import MsgStore

/// ``VersionSet``'s invariants: a store's version state keeps them through
/// flushes, compactions and manifest rewrites; a state breaking them is
/// reported (``VersionSet/invariantViolations(of:nextFileNumber:manifestNumber:partitions:)``
/// is the test entry point: the debug-build check stops the process instead).
@Suite struct VersionSetInvariantTests {
    static let partition = PartitionID(tableId: 7, partition: 0)

    /// An SSTable's metadata spanning user keys `[low]...[high]`.
    static func file(_ number: UInt64, _ low: UInt8, _ high: UInt8, sequence: UInt64 = 1) -> FileMetadata {
        let trailer = [UInt8](repeating: 0, count: InternalKey.trailerSize)
        return FileMetadata(number: number, size: 100, entries: 1, smallestSequence: sequence, largestSequence: sequence,
                            smallest: [low] + trailer, largest: [high] + trailer)
    }

    /// A state with `files` at level `level` of one partition.
    static func state(level: Int, _ files: [FileMetadata], next: UInt64 = 100) -> VersionState {
        var state = VersionState()
        state.nextFileNumber = next
        var levels = Array(repeating: [FileMetadata](), count: levelCount)
        levels[level] = files
        state.files[partition] = levels
        return state
    }

    @Test func aWellFormedStateHasNoViolations() {
        var state = Self.state(level: 1, [Self.file(3, 0, 9), Self.file(4, 10, 19)])
        state.files[Self.partition]![0] = [Self.file(6, 0, 50, sequence: 9), Self.file(5, 0, 50, sequence: 4)]
        state.logNumber = 8
        #expect(VersionSet.invariantViolations(of: state, nextFileNumber: 100, manifestNumber: 2).isEmpty)
    }

    @Test func overlappingFilesOfALevelAreDetected() {
        let state = Self.state(level: 2, [Self.file(3, 0, 10), Self.file(4, 10, 19)])
        let violations = VersionSet.invariantViolations(of: state, nextFileNumber: 100, manifestNumber: 2)
        #expect(violations.count == 1)
        #expect(violations.first?.contains("L2: files 3 and 4 overlap") == true)
    }

    @Test func unsortedFilesOfALevelAreDetected() {
        let state = Self.state(level: 1, [Self.file(4, 10, 19), Self.file(3, 0, 9)])
        #expect(!VersionSet.invariantViolations(of: state, nextFileNumber: 100, manifestNumber: 2).isEmpty)
    }

    @Test func level0OutOfSequenceOrderIsDetected() {
        let state = Self.state(level: 0, [Self.file(5, 0, 50, sequence: 4), Self.file(6, 0, 50, sequence: 9)])
        let violations = VersionSet.invariantViolations(of: state, nextFileNumber: 100, manifestNumber: 2)
        #expect(violations.first?.contains("L0") == true)
    }

    @Test func fileNumbersNotBelowTheCounterAreDetected() {
        var state = Self.state(level: 1, [Self.file(100, 0, 9)])
        state.logNumber = 101
        let violations = VersionSet.invariantViolations(of: state, nextFileNumber: 100, manifestNumber: 100)
        #expect(violations.contains { $0.contains("file 100 is not below") })
        #expect(violations.contains { $0.contains("log number 101") })
        #expect(violations.contains { $0.contains("manifest number 100") })
        // Only the partitions asked for are checked for level invariants.
        #expect(VersionSet.invariantViolations(of: state, nextFileNumber: 100, manifestNumber: nil, partitions: []).contains {
            $0.contains("log number")
        })
        #expect(!VersionSet.invariantViolations(of: state, nextFileNumber: 100, manifestNumber: nil, partitions: []).contains {
            $0.contains("file 100")
        })
    }

    @Test func aPartitionReadingOtherFilesThanTheManifestListsIsDetected() {
        #expect(VersionSet.installedViolations(installed: [[5, 4], [3]], listed: [[4, 5], [3]]).isEmpty)
        #expect(VersionSet.installedViolations(installed: [[], []], listed: []).isEmpty)
        let missing = VersionSet.installedViolations(installed: [[5], [3]], listed: [[5, 4], [3]])
        #expect(missing == ["L0: reads [5], the manifest lists [4, 5]"])
        let stale = VersionSet.installedViolations(installed: [[], [3, 9]], listed: [[], [3]])
        #expect(stale.count == 1)
    }

    @Test func aStoreKeepsTheInvariantsThroughFlushesCompactionsAndManifestRewrites() throws {
        let directory = TestDirectory()
        var options = ManifestTests.smallOptions
        options.maxManifestBytes = 2 << 10  // rewrite the manifest often
        let store = try TestSchema.open(directory, options: options)
        let kv = try store.table("kv")
        for i in 0..<600 {
            var batch = WriteBatch()
            batch.put(kv, RowKey(partitionKey: [UInt8(i % 5)], sortKey: [UInt8(i / 256), UInt8(i % 256)]),
                      value: [UInt8](repeating: UInt8(i % 251), count: 40))
            try store.write(batch)
        }
        try store.settle()
        #expect(store.statistics.compactions > 0)
        let versions = store.engine.versions
        let violations = versions.lock.withLock { held in
            VersionSet.invariantViolations(of: versions.currentState(held), nextFileNumber: versions.upcomingFileNumber, manifestNumber: nil)
        }
        #expect(violations.isEmpty, "\(violations)")
        versions.lock.withLock { held in versions.checkInvariants(held) }
        for partition in store.engine.catalog.partitions {
            versions.lock.withLock { held in versions.checkInstalled(partition.version, of: partition.id, held) }
        }
        try store.close()
    }
}
