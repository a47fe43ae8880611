import Foundation
import Testing
@testable import MsgStore

/// Rough timings of the read paths on the workload's inbox entries. Gated
/// (and meaningful only in release):
/// `MSGSTORE_WORKLOAD=/tmp/msgbench-wl-small MSGSTORE_TABLE_PERF=1 swift test -c release -Xswiftc -enable-testing --filter TablePerformance`.
@Suite struct TablePerformanceTests {
    @Test func readPathTimings() throws {
        let environment = ProcessInfo.processInfo.environment
        guard environment["MSGSTORE_TABLE_PERF"] != nil, let workload = environment["MSGSTORE_WORKLOAD"] else { return }
        let entries = try TableCompressionMeasurementTests.inboxEntries(workload: workload)
        let directory = TemporaryDirectory()
        for dictionary in [false, true] {
            let path = directory.file(dictionary ? "000002.sst" : "000001.sst")
            var options = SSTableOptions()
            if dictionary { options.dictionary = .init() }
            let file = try TableTesting.fileSystem.open(path, mode: .createTruncate)
            let builder = SSTableBuilder(file: file, options: options)
            var start = Date()
            for entry in entries { try builder.add(key: entry.key, value: entry.value) }
            let metadata = try builder.finish()
            try file.close()
            let buildSeconds = Date().timeIntervalSince(start)

            let cache = BlockCache(capacityBytes: 256 << 20)
            let table = try SSTableReader.open(fileSystem: TableTesting.fileSystem, path: path, fileNumber: dictionary ? 2 : 1, cache: cache)
            var rng = SeededGenerator(seed: 5)
            let probes = (0..<200_000).map { _ in entries[Int.random(in: 0..<entries.count, using: &rng)] }
            let userKeys = probes.map { Array($0.key.dropLast(8)) }

            // Cold: every first touch of a block reads and decompresses it.
            start = Date()
            var found = 0
            for key in userKeys { if case .found = try table.get(key, snapshotSequence: InternalKey.maxSequence) { found += 1 } }
            let coldSeconds = Date().timeIntervalSince(start)
            start = Date()
            for key in userKeys { if case .found = try table.get(key, snapshotSequence: InternalKey.maxSequence) { found += 1 } }
            let warmSeconds = Date().timeIntervalSince(start)

            // Inbox pages: seek to (recipient, date) and read up to 50 entries.
            let iterator = table.makeIterator()
            start = Date()
            var rows = 0
            var valueBytes = 0
            for probe in probes.prefix(100_000) {
                let prefixLength = 17
                try probe.key.withUnsafeBytes { key in
                    try iterator.seek(toFirstAtOrAfter: key)
                    var count = 0
                    while iterator.isValid && count < 50 {
                        let current = iterator.key
                        if compareBytes(UnsafeRawBufferPointer(rebasing: current[..<prefixLength]), UnsafeRawBufferPointer(rebasing: key[..<prefixLength])) != 0 { break }
                        valueBytes &+= iterator.value.count
                        count += 1
                        try iterator.next()
                    }
                    rows += count
                }
            }
            let pageSeconds = Date().timeIntervalSince(start)

            start = Date()
            try iterator.seekToFirst()
            var scanned = 0
            while iterator.isValid { scanned += 1; valueBytes &+= iterator.value.count; try iterator.next() }
            let scanSeconds = Date().timeIntervalSince(start)
            #expect(scanned == entries.count)
            #expect(found == 2 * userKeys.count)
            print(String(format: "dictionary=%@: %llu B (%.1f B/entry), build %.2f s (%.0f entries/s); get cold %.2f µs, warm %.2f µs; page (≤50 rows, %.1f avg) %.2f µs; scan %.0f rows/s; cache %@",
                         dictionary ? "yes" : "no", metadata.fileSize, Double(metadata.fileSize) / Double(entries.count),
                         buildSeconds, Double(entries.count) / buildSeconds,
                         coldSeconds / Double(userKeys.count) * 1e6, warmSeconds / Double(userKeys.count) * 1e6,
                         Double(rows) / 100_000, pageSeconds / 100_000 * 1e6, Double(scanned) / scanSeconds,
                         "\(cache.statistics)"))
            try table.close()
        }
    }
}
