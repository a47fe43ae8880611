import Benchmark
import Foundation
import Logging
import Messaging
import MessagingEngineStorage
import Synchronization
@_spi(Benchmarks) import MsgStore

/// Hot paths of the engine, each on its own data:
///
/// - through the public API, on a fresh store in a temporary directory: the
///   commit path (group commit into the WAL and memtable insert, with and
///   without fdatasync), point lookups (row cache hit, and a miss answered by
///   the SSTables' blocks and bloom filters), an inbox page read (seek +
///   forward iteration) and a durable queue round trip;
/// - through `@_spi(Benchmarks)` (``SSTableBenchmarkProbes``; package-benchmark
///   builds in release, where `@testable import` is not available): data block
///   encode, decode and seek, bloom filter probes, zstd with and without a
///   trained dictionary, and one SSTable's point lookups, page reads and scan;
/// - the size of an SSTable of inbox rows for several compression settings
///   (custom metric `bytes/entry ×100`).
///
/// Fixtures that take long to build (a settled store, an SSTable) are made in
/// `setup` closures, once per benchmark, so the measured runs get the whole
/// time budget. Inbox rows are synthetic but shaped like the standard workload
/// (docs/workload.md): 16-byte recipient, 8-byte date and 16-byte message id as
/// the key; sender, group and chat-like text as the value.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(3))

    // MARK: Store, public API

    Benchmark("commit: one 200-byte put, sync none") { benchmark in
        let fixture = try Fixture(sync: .none)
        var i = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            i += 1
            try fixture.put(i)
        }
        benchmark.stopMeasurement()
        try fixture.close()
    }

    Benchmark("commit: one 200-byte put, fdatasync", configuration: .init(maxDuration: .seconds(3), maxIterations: 2_000)) { benchmark in
        let fixture = try Fixture(sync: .always)
        var i = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            i += 1
            try fixture.put(i)
        }
        benchmark.stopMeasurement()
        try fixture.close()
    }

    Benchmark("get: row cache hit") { (benchmark: Benchmark, fixture: Fixture) in
        for _ in benchmark.scaledIterations { blackHole(try? fixture.get(42)) }
    } setup: {
        let fixture = try Fixture(sync: .none, cachesRows: true)
        try fixture.load(10_000, settle: false)
        _ = try fixture.get(42)
        return fixture
    } teardown: {
        TemporaryPaths.removeAll()
    }

    Benchmark("get: SSTable lookup (settled, no row cache)") { (benchmark: Benchmark, fixture: Fixture) in
        var i = 0
        for _ in benchmark.scaledIterations {
            i = (i &+ 7_919) % 100_000
            blackHole(try? fixture.get(i))
        }
    } setup: {
        try Fixture.settled(rows: 100_000)
    } teardown: {
        TemporaryPaths.removeAll()
    }

    Benchmark("scan: inbox page of 50 (settled)") { (benchmark: Benchmark, fixture: Fixture) in
        var page = 0
        for _ in benchmark.scaledIterations {
            page = (page + 1) % 100
            blackHole(try? fixture.page(recipient: page))
        }
    } setup: {
        try Fixture.settled(rows: 100_000)
    } teardown: {
        TemporaryPaths.removeAll()
    }

    Benchmark("scan: inbox page of 50 without copies (withUnsafeRows, settled)") { (benchmark: Benchmark, fixture: Fixture) in
        var page = 0
        for _ in benchmark.scaledIterations {
            page = (page + 1) % 100
            blackHole(try? fixture.pageWithoutCopies(recipient: page))
        }
    } setup: {
        try Fixture.settled(rows: 100_000)
    } teardown: {
        TemporaryPaths.removeAll()
    }

    Benchmark("queue: enqueue + receive + ack, sync none") { benchmark in
        let fixture = try Fixture(sync: .none)
        var options = QueueOptions()
        options.sync = .none
        let queue = try fixture.store.queue(named: "bench", options: options)
        let payload = [UInt8](repeating: 1, count: 200)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            _ = try await queue.enqueue(payload)
            let leased = try await queue.receive(max: 1, visibilityTimeout: .seconds(30), waitTimeout: .zero)
            try await queue.ack(leased)
        }
        benchmark.stopMeasurement()
        try await fixture.closeAsync()
    }

    // MARK: Memtable

    Benchmark("memtable: insert a 200-byte inbox row", configuration: .init(maxDuration: .seconds(3), maxIterations: 200_000)) { benchmark in
        let probe = MemTableBenchmarkProbe()
        let value = [UInt8](repeating: 7, count: 200)
        var keys: [[UInt8]] = []
        keys.reserveCapacity(benchmark.scaledIterations.count)
        for i in benchmark.scaledIterations {
            keys.append(SSTableBenchmarkProbes.userKey(partitionKey: recipient(i % 1_000), sortKey: stampedSortKey(i)))
        }
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            probe.insert(userKey: keys[i], value: value)
        }
        benchmark.stopMeasurement()
    }

    Benchmark("memtable: seek and read 50 rows (100k rows)") { (benchmark: Benchmark, probe: MemTableFixture) in
        for i in benchmark.scaledIterations {
            let key = SSTableBenchmarkProbes.userKey(partitionKey: recipient(i % 1_000), sortKey: [])
            blackHole(probe.probe.seekAndRead(userKey: key, count: 50))
        }
    } setup: {
        MemTableFixture()
    }

    // MARK: Fan-out

    Benchmark("fan-out: one group message to 1,000 members (accept, batch, ack), sync none",
              configuration: .init(maxDuration: .seconds(5), maxIterations: 2_000)) { (benchmark: Benchmark, fixture: FanOutFixture) in
        for _ in benchmark.scaledIterations {
            let message = OutgoingMessage(messageID: .random(), sender: fixture.members[0], content: "hello, group")
            _ = try await fixture.storage.enqueueGroupMessage(message, to: fixture.group)
            guard let lease = try await fixture.storage.receiveGroupMessage(lease: .seconds(30), wait: .zero) else {
                fatalError("the enqueued message was not received")
            }
            var copies = 0
            while true {
                let batch = try await fixture.storage.deliverGroupMessageBatch(lease, maxMembers: 1_000)
                copies += batch.copiesWritten
                if batch.isComplete { break }
            }
            try await fixture.storage.acknowledgeGroupMessage(lease)
            blackHole(copies)
        }
    } setup: {
        try await FanOutFixture.make(members: 1_000)
    } teardown: {
        TemporaryPaths.removeAll()
    }

    // MARK: Blocks

    Benchmark("block: encode 4 KiB of inbox rows") { (benchmark: Benchmark, rows: InboxRows) in
        for _ in benchmark.scaledIterations { blackHole(SSTableBenchmarkProbes.encodeBlock(rows.oneBlock)) }
    } setup: {
        InboxRows.shared
    } teardown: {
        TemporaryPaths.removeAll()
    }

    Benchmark("block: decode and read every entry of a 4 KiB block") { (benchmark: Benchmark, block: [UInt8]) in
        for _ in benchmark.scaledIterations {
            let decoded = try? SSTableBenchmarkProbes.DecodedBlock(block)
            blackHole(decoded.map { try? SSTableBenchmarkProbes.scan($0) })
        }
    } setup: {
        SSTableBenchmarkProbes.encodeBlock(InboxRows.shared.oneBlock)
    } teardown: {
        TemporaryPaths.removeAll()
    }

    Benchmark("block: seek in a decoded 4 KiB block") { (benchmark: Benchmark, fixture: BlockSeekFixture) in
        var i = 0
        for _ in benchmark.scaledIterations {
            i = (i &+ 7) % fixture.keys.count
            blackHole(try? SSTableBenchmarkProbes.seek(fixture.block, to: fixture.keys[i]))
        }
    } setup: {
        try BlockSeekFixture()
    } teardown: {
        TemporaryPaths.removeAll()
    }

    // MARK: Bloom filters

    Benchmark("bloom: probe a present key (10 bits/key)") { (benchmark: Benchmark, fixture: BloomFixture) in
        var i = 0
        for _ in benchmark.scaledIterations {
            i = (i &+ 7_919) % fixture.present.count
            blackHole(fixture.bloom.mayContain(fixture.present[i]))
        }
    } setup: {
        BloomFixture()
    } teardown: {
        TemporaryPaths.removeAll()
    }

    Benchmark("bloom: probe an absent key (10 bits/key)") { (benchmark: Benchmark, fixture: BloomFixture) in
        var i = 0
        for _ in benchmark.scaledIterations {
            i = (i &+ 7_919) % fixture.absent.count
            blackHole(fixture.bloom.mayContain(fixture.absent[i]))
        }
    } setup: {
        BloomFixture()
    } teardown: {
        TemporaryPaths.removeAll()
    }

    // MARK: zstd

    Benchmark("zstd: compress a 4 KiB block, level 3") { (benchmark: Benchmark, fixture: ZstdFixture) in
        for _ in benchmark.scaledIterations { blackHole(fixture.plain.compress(fixture.block)) }
    } setup: {
        ZstdFixture()
    } teardown: {
        TemporaryPaths.removeAll()
    }

    Benchmark("zstd: compress a 4 KiB block, level 3 + 32 KiB dictionary") { (benchmark: Benchmark, fixture: ZstdFixture) in
        for _ in benchmark.scaledIterations { blackHole(fixture.withDictionary.compress(fixture.block)) }
    } setup: {
        ZstdFixture()
    } teardown: {
        TemporaryPaths.removeAll()
    }

    Benchmark("zstd: decompress a 4 KiB block") { (benchmark: Benchmark, fixture: ZstdFixture) in
        var output: [UInt8] = []
        for _ in benchmark.scaledIterations {
            blackHole(fixture.plain.decompress(fixture.plainFrame, rawCount: fixture.block.count, into: &output))
        }
    } setup: {
        ZstdFixture()
    } teardown: {
        TemporaryPaths.removeAll()
    }

    Benchmark("zstd: decompress a 4 KiB block with its dictionary") { (benchmark: Benchmark, fixture: ZstdFixture) in
        var output: [UInt8] = []
        for _ in benchmark.scaledIterations {
            blackHole(fixture.withDictionary.decompress(fixture.dictionaryFrame, rawCount: fixture.block.count, into: &output))
        }
    } setup: {
        ZstdFixture()
    } teardown: {
        TemporaryPaths.removeAll()
    }

    // MARK: One SSTable (what Tests/…/SSTablePerformanceTests timed)

    for dictionary in [false, true] {
        let suffix = dictionary ? ", dictionary" : ""
        Benchmark("sstable: get, warm block cache\(suffix)") { (benchmark: Benchmark, file: SSTableFixture) in
            var i = 0
            for _ in benchmark.scaledIterations {
                i = (i &+ 7_919) % file.userKeys.count
                blackHole(try? file.reader.get(file.userKeys[i]))
            }
        } setup: {
            try SSTableFixture(dictionary: dictionary, cacheBytes: 256 << 20, warm: true)
        } teardown: {
            TemporaryPaths.removeAll()
        }

        Benchmark("sstable: get, no block cache (read + decompress a block each)\(suffix)") { (benchmark: Benchmark, file: SSTableFixture) in
            var i = 0
            for _ in benchmark.scaledIterations {
                i = (i &+ 7_919) % file.userKeys.count
                blackHole(try? file.reader.get(file.userKeys[i]))
            }
        } setup: {
            try SSTableFixture(dictionary: dictionary, cacheBytes: 0, warm: false)
        } teardown: {
            TemporaryPaths.removeAll()
        }

        Benchmark("sstable: inbox page of ≤ 50, warm block cache\(suffix)") { (benchmark: Benchmark, file: SSTableFixture) in
            var i = 0
            for _ in benchmark.scaledIterations {
                i = (i &+ 7_919) % file.entries.count
                blackHole(try? file.reader.page(from: file.entries[i].key, prefixLength: 17, limit: 50))
            }
        } setup: {
            try SSTableFixture(dictionary: dictionary, cacheBytes: 256 << 20, warm: true)
        } teardown: {
            TemporaryPaths.removeAll()
        }

        Benchmark("sstable: scan every entry\(suffix)", configuration: .init(maxDuration: .seconds(3), maxIterations: 50)) { (benchmark: Benchmark, file: SSTableFixture) in
            for _ in benchmark.scaledIterations { blackHole(try? file.reader.scanAll()) }
        } setup: {
            try SSTableFixture(dictionary: dictionary, cacheBytes: 256 << 20, warm: true)
        } teardown: {
            TemporaryPaths.removeAll()
        }
    }

    // MARK: Size (what Tests/…/SSTableCompressionMeasurementTests printed)

    let bytesPerEntry = BenchmarkMetric.custom("bytes/entry ×100", polarity: .prefersSmaller, useScalingFactor: false)
    let variants: [(String, SSTableBenchmarkProbes.FileOptions)] = [
        ("none", .init(compressionLevel: nil)),
        ("zstd1", .init(compressionLevel: 1)),
        ("zstd3", .init(compressionLevel: 3)),
        ("zstd3+dict16K", .init(compressionLevel: 3, dictionary: (16 << 10, 1 << 20))),
        ("zstd3+dict64K", .init(compressionLevel: 3, dictionary: (64 << 10, 4 << 20))),
        ("zstd3 16KiB blocks", .init(compressionLevel: 3, blockSizeBytes: 16 << 10)),
        ("zstd3+dict16K 16KiB blocks", .init(compressionLevel: 3, dictionary: (16 << 10, 1 << 20), blockSizeBytes: 16 << 10)),
    ]
    for (name, options) in variants {
        Benchmark("size: write an SSTable of inbox rows, \(name)",
                  configuration: .init(metrics: [.wallClock, bytesPerEntry], maxDuration: .seconds(5), maxIterations: 5)) { (benchmark: Benchmark, rows: InboxRows) in
            let path = temporaryPath("size")
            defer { try? FileManager.default.removeItem(atPath: path) }
            benchmark.startMeasurement()
            let written = try? SSTableBenchmarkProbes.writeFile(at: path, entries: rows.entries, options: options)
            benchmark.stopMeasurement()
            if let written {
                benchmark.measurement(bytesPerEntry, Int((Double(written.fileBytes) * 100 / Double(rows.entries.count)).rounded()))
            }
        } setup: {
            InboxRows.shared
        } teardown: {
            TemporaryPaths.removeAll()
        }
    }
}

// MARK: Fixtures

/// A unique path under the temporary directory, removed by ``TemporaryPaths/removeAll()``
/// (the teardown of the benchmarks whose setup made it).
func temporaryPath(_ name: String, suffix: String = "") -> String {
    let path = NSTemporaryDirectory() + "msgstore-bench-\(name)-\(UUID().uuidString)\(suffix)"
    TemporaryPaths.paths.withLock { $0.append(path) }
    return path
}

/// The paths ``temporaryPath(_:suffix:)`` handed out.
enum TemporaryPaths {
    static let paths = Mutex<[String]>([])

    static func removeAll() {
        for path in paths.withLock({ paths in defer { paths.removeAll() }; return paths }) {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}

/// A store with one `inbox` table (100 recipients, sort key = 8-byte number).
final class Fixture: @unchecked Sendable {
    let directory: String
    let store: Store
    let inbox: Table
    let value = [UInt8](repeating: 0x5A, count: 200)

    init(sync: SyncMode, cachesRows: Bool = false) throws {
        directory = temporaryPath("store")
        var options = StoreOptions()
        options.sync = sync
        store = try Store.open(at: directory, tables: [TableSchema(name: "inbox", partitionCount: 8, cachesRows: cachesRows)],
                               options: options)
        inbox = try store.table("inbox")
    }

    /// A store (sync none) holding `rows` rows, flushed and compacted: reads hit SSTables.
    static func settled(rows: Int) throws -> Fixture {
        let fixture = try Fixture(sync: .none)
        try fixture.load(rows, settle: true)
        return fixture
    }

    func key(_ i: Int) -> RowKey {
        RowKey(partitionKey: [UInt8(i % 100)], sortKey: withUnsafeBytes(of: UInt64(i).bigEndian) { Array($0) })
    }

    func put(_ i: Int) throws {
        var batch = WriteBatch()
        batch.put(inbox, key(i), value: value)
        try store.write(batch)
    }

    func load(_ count: Int, settle: Bool) throws {
        var batch = WriteBatch()
        for i in 0..<count {
            batch.put(inbox, key(i), value: value)
            if batch.byteCount > 1 << 20 {
                try store.write(batch)
                batch = WriteBatch()
            }
        }
        try store.write(batch)
        if settle { try store.settle() }
    }

    func get(_ i: Int) throws -> [UInt8]? { try store.get(inbox, key(i)) }

    func page(recipient: Int) throws -> [Row] {
        try store.scan(inbox, partitionKey: [UInt8(recipient)], from: .beginning, limit: 50)
    }

    /// The page's value bytes, read in place.
    func pageWithoutCopies(recipient: Int) throws -> Int {
        var bytes = 0
        try store.withUnsafeRows(inbox, partitionKey: [UInt8(recipient)], from: .beginning, limit: 50) { _, value in
            bytes &+= value.count
            return true
        }
        return bytes
    }

    func close() throws {
        try store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// For async benchmarks: the blocking `close` must not hold a thread of
    /// the cooperative pool while the store's queues close.
    func closeAsync() async throws {
        try await store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Synthetic inbox rows shaped like the standard workload's: 2,000
/// recipients with Zipf-like activity, dates increasing by 1–4 s, chat-like
/// content of 10–120 bytes from a small vocabulary; sorted by internal key.
final class InboxRows: Sendable {
    static let shared = InboxRows(count: 100_000)

    /// (internal key, value), ascending.
    let entries: [(key: [UInt8], value: [UInt8])]
    /// The rows of about one 4 KiB block (the first recipient's first rows).
    let oneBlock: [(key: [UInt8], value: [UInt8])]

    init(count: Int) {
        var random = SplitMix64(seed: 42)
        let users = (0..<2_000).map { _ in (0..<16).map { _ in UInt8.random(in: 0...255, using: &random) } }
        let words = ["ok", "see", "you", "tonight", "thanks", "the", "meeting", "is", "at", "lunch", "coffee", "?", "great",
                     "let's", "go", "tomorrow", "😀", "https://example.com/x", "12", "€30", "sounds", "good", "call", "me",
                     "later", "where", "are", "we", "running", "late", "sorry", "yes", "no", "maybe", "weekend", "plan"]
        var date = Int64(1_717_200_000_000_000)
        var rows: [(key: [UInt8], value: [UInt8])] = []
        rows.reserveCapacity(count)
        for sequence in 0..<count {
            // Zipf-like: low indexes far more often.
            let recipient = users[Int(Double(users.count) * pow(Double.random(in: 0..<1, using: &random), 3))]
            let sender = users[Int.random(in: 0..<users.count, using: &random)]
            date += Int64.random(in: 1_000_000...4_000_000, using: &random)
            let messageID = (0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }
            var text = ""
            let length = Int.random(in: 10...120, using: &random)
            while text.utf8.count < length { text += (text.isEmpty ? "" : " ") + words[Int.random(in: 0..<words.count, using: &random)] }
            let sortKey = withUnsafeBytes(of: UInt64(bitPattern: date).bigEndian) { Array($0) } + messageID
            let userKey = SSTableBenchmarkProbes.userKey(partitionKey: recipient, sortKey: sortKey)
            let value = sender + [UInt8](repeating: 0, count: 16) + Array(text.utf8)
            rows.append((SSTableBenchmarkProbes.internalKey(userKey: userKey, sequence: UInt64(sequence + 1)), value))
        }
        rows.sort { $0.key.lexicographicallyPrecedes($1.key) }
        entries = rows
        var block: [(key: [UInt8], value: [UInt8])] = []
        var bytes = 0
        for row in rows where bytes < 4096 {
            block.append(row)
            bytes += row.key.count + row.value.count
        }
        oneBlock = block
    }
}

/// A decoded block of inbox rows and the keys of its entries.
struct BlockSeekFixture: Sendable {
    let block: SSTableBenchmarkProbes.DecodedBlock
    let keys: [[UInt8]]

    init() throws {
        let rows = InboxRows.shared.oneBlock
        block = try SSTableBenchmarkProbes.DecodedBlock(SSTableBenchmarkProbes.encodeBlock(rows))
        keys = rows.map(\.key)
    }
}

/// A bloom filter of 100,000 keys, and as many keys that are not in it.
struct BloomFixture: Sendable {
    let bloom: SSTableBenchmarkProbes.Bloom
    let present: [[UInt8]]
    let absent: [[UInt8]]

    init() {
        var random = SplitMix64(seed: 7)
        func key() -> [UInt8] { (0..<40).map { _ in UInt8.random(in: 0...255, using: &random) } }
        present = (0..<100_000).map { _ in key() }
        absent = (0..<100_000).map { _ in key() }
        bloom = SSTableBenchmarkProbes.Bloom(keys: present)
    }
}

/// One 4 KiB block of inbox rows, and zstd at level 3 with and without a
/// 32 KiB dictionary trained on 1 MiB of other blocks.
struct ZstdFixture: Sendable {
    let block: [UInt8]
    let plain: SSTableBenchmarkProbes.Zstd
    let withDictionary: SSTableBenchmarkProbes.Zstd
    let plainFrame: [UInt8]
    let dictionaryFrame: [UInt8]

    init() {
        let entries = InboxRows.shared.entries
        var blocks: [[UInt8]] = []
        var start = 0
        while start < entries.count && blocks.count < 300 {
            var end = start
            var bytes = 0
            while end < entries.count && bytes < 4096 {
                bytes += entries[end].key.count + entries[end].value.count
                end += 1
            }
            blocks.append(SSTableBenchmarkProbes.encodeBlock(Array(entries[start..<end])))
            start = end
        }
        block = blocks[0]
        plain = SSTableBenchmarkProbes.Zstd(level: 3)
        withDictionary = SSTableBenchmarkProbes.Zstd(level: 3, training: Array(blocks.dropFirst()), dictionaryCapacity: 32 << 10)
        plainFrame = plain.compress(block) ?? []
        dictionaryFrame = withDictionary.compress(block) ?? []
    }
}

/// An SSTable of the synthetic inbox rows, open with its own block cache.
final class SSTableFixture: Sendable {
    let path: String
    let reader: SSTableBenchmarkProbes.OpenFile
    let entries: [(key: [UInt8], value: [UInt8])]
    /// User keys of the entries (internal keys minus the 8-byte trailer).
    let userKeys: [[UInt8]]

    init(dictionary: Bool, cacheBytes: Int, warm: Bool) throws {
        entries = InboxRows.shared.entries
        userKeys = entries.map { Array($0.key.dropLast(8)) }
        path = temporaryPath("sstable", suffix: ".sst")
        _ = try SSTableBenchmarkProbes.writeFile(
            at: path, entries: entries, options: .init(compressionLevel: 3, dictionary: dictionary ? (64 << 10, 4 << 20) : nil))
        reader = try SSTableBenchmarkProbes.OpenFile(path: path, cacheBytes: cacheBytes)
        if warm { _ = try reader.scanAll() }
    }
}

/// SplitMix64: the fixtures' data is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A 16-byte recipient id for row `i`.
func recipient(_ i: Int) -> [UInt8] {
    withUnsafeBytes(of: UInt64(i).bigEndian) { Array($0) } + [UInt8](repeating: 0xAB, count: 8)
}

/// A sort key as the inbox stores it: an 8-byte big-endian stamp, then a 16-byte id.
func stampedSortKey(_ i: Int) -> [UInt8] {
    withUnsafeBytes(of: UInt64(1_700_000_000_000_000 + i).bigEndian) { Array($0) } + [UInt8](repeating: 0xCD, count: 16)
}

/// A memtable holding 100,000 inbox rows over 1,000 recipients.
final class MemTableFixture: Sendable {
    let probe = MemTableBenchmarkProbe()

    init() {
        let value = [UInt8](repeating: 7, count: 200)
        for i in 0..<100_000 {
            probe.insert(userKey: SSTableBenchmarkProbes.userKey(partitionKey: recipient(i % 1_000), sortKey: stampedSortKey(i)),
                         value: value)
        }
    }
}

/// The server's storage (sync none) with one group of `members` users.
struct FanOutFixture: Sendable {
    let storage: any MessagingStorage
    let group: GroupID
    let members: [UserID]

    static func make(members count: Int) async throws -> FanOutFixture {
        let options = EngineStorageOptions(dataDirectory: temporaryPath("fanout"), sync: .none)
        let storage = try await makeEngineMessagingStorage(options: options, logger: Logger(label: "bench"))
        let group = GroupID(UUID())
        try await storage.createGroup(group)
        var members: [UserID] = []
        for _ in 0..<count {
            let user = UserID(UUID())
            try await storage.createUser(user)
            try await storage.addMember(user, to: group)
            members.append(user)
        }
        return FanOutFixture(storage: storage, group: group, members: members)
    }
}
