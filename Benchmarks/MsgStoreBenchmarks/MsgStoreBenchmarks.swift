import Benchmark
import Foundation
import MsgStore

/// Hot paths of the engine through its public API, each on a fresh store in
/// a temporary directory: the commit path (group commit into the WAL and
/// memtable insert, with and without fdatasync), point lookups (row cache
/// hit, and a miss answered by the SSTables' blocks and bloom filters), an
/// inbox page read (seek + forward iteration), and a durable queue round trip.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(3))

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

    Benchmark("get: row cache hit") { benchmark in
        let fixture = try Fixture(sync: .none, cachesRows: true)
        try fixture.load(10_000, settle: false)
        _ = try fixture.get(42)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try fixture.get(42)) }
        benchmark.stopMeasurement()
        try fixture.close()
    }

    Benchmark("get: SSTable lookup (settled, no row cache)") { benchmark in
        let fixture = try Fixture(sync: .none)
        try fixture.load(100_000, settle: true)
        var i = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            i = (i &+ 7_919) % 100_000
            blackHole(try fixture.get(i))
        }
        benchmark.stopMeasurement()
        try fixture.close()
    }

    Benchmark("scan: inbox page of 50 (settled)") { benchmark in
        let fixture = try Fixture(sync: .none)
        try fixture.load(100_000, settle: true)
        var page = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            page = (page + 1) % 100
            blackHole(try fixture.page(recipient: page))
        }
        benchmark.stopMeasurement()
        try fixture.close()
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
}

/// A store with one `inbox` table (100 recipients, sort key = 8-byte number).
final class Fixture {
    let directory: String
    let store: Store
    let inbox: Table
    let value = [UInt8](repeating: 0x5A, count: 200)

    init(sync: SyncMode, cachesRows: Bool = false) throws {
        directory = NSTemporaryDirectory() + "msgstore-bench-\(UUID().uuidString)"
        var options = StoreOptions()
        options.sync = sync
        store = try Store.open(at: directory, tables: [TableSchema(name: "inbox", partitionCount: 8, cachesRows: cachesRows)],
                               options: options)
        inbox = try store.table("inbox")
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
