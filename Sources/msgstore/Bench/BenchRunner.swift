import Foundation
import MsgStore
import Synchronization

/// Runs the phases of `docs/workload.md` in-process against the engine
/// and prints one `msgbench/1` JSON line per phase on stdout (a human table
/// on stderr), so its lines compare one to one with `Tools/peers/run`.
final class BenchRunner: @unchecked Sendable {
    let workload: Workload
    let databaseDirectory: String
    let durable: Bool
    let threads: Int
    let limit: Int?
    let blockCacheBytes: Int
    let rowCacheBytes: Int
    let engineName = "msgstore"
    private var store: Store!
    private var blocks: Table!
    private var inbox: Table!
    private var bodies: Table!

    init(workload: Workload, databaseDirectory: String, durable: Bool, threads: Int, limit: Int?, blockCacheBytes: Int, rowCacheBytes: Int) {
        self.blockCacheBytes = blockCacheBytes
        self.rowCacheBytes = rowCacheBytes
        self.workload = workload
        self.databaseDirectory = databaseDirectory
        self.durable = durable
        self.threads = threads
        self.limit = limit
    }

    struct Counters {
        var ops = 0, entries = 0, blocked = 0, mismatches = 0, rows = 0, valueBytes = 0, found = 0
        static func + (a: Counters, b: Counters) -> Counters {
            Counters(ops: a.ops + b.ops, entries: a.entries + b.entries, blocked: a.blocked + b.blocked,
                     mismatches: a.mismatches + b.mismatches, rows: a.rows + b.rows,
                     valueBytes: a.valueBytes + b.valueBytes, found: a.found + b.found)
        }
    }

    func run() throws {
        try FileManager.default.createDirectory(atPath: databaseDirectory, withIntermediateDirectories: true)
        var options = StoreOptions()
        options.sync = durable ? .always : .none
        options.blockCacheBytes = blockCacheBytes
        options.rowCacheBytes = rowCacheBytes

        // open
        var start = DispatchTime.now()
        store = try Store.open(at: databaseDirectory, tables: BenchLayout.tables, options: options)
        blocks = try store.table("blocks")
        inbox = try store.table("inbox")
        bodies = try store.table("bodies")
        var seconds = elapsed(since: start)
        let config = "sync=\(options.sync.rawValue) block_cache=\(options.blockCacheBytes >> 20)MiB row_cache=\(options.rowCacheBytes >> 20)MiB memtable=\(options.memtableBytes >> 20)MiB wal_segment=\(options.walSegmentBytes >> 20)MiB partitions=inbox:16,bodies:8,blocks:4 group_body_once"
        emit("open", ops: 1, seconds: seconds, throughput: false, fields: [("version", .string("msgstore 0.1")), ("config", .string(config))])

        // load_blocks: batches of 1,000, not synced, 1 thread.
        start = DispatchTime.now()
        try workload.blocks.withUnsafeBytes { raw in
            var index = 0
            while index < workload.blockCount {
                var batch = WriteBatch()
                for record in index..<min(index + 1000, workload.blockCount) {
                    let base = 16 + record * 32
                    batch.put(blocks, RowKey(partitionKey: Array(raw[base..<(base + 16)]), sortKey: Array(raw[(base + 16)..<(base + 32)])), value: [])
                }
                try store.write(batch, sync: false)
                index += 1000
            }
        }
        seconds = elapsed(since: start)
        emit("load_blocks", ops: workload.blockCount, seconds: seconds)

        // ingest
        let reader = try LoadReader(path: workload.directory + "/load.bin", total: workload.sendCount)
        let timed = min(limit ?? workload.sendCount, workload.sendCount)
        reader.setStop(timed)
        let latencies = LatencyRecorder(capacity: max(workload.sendCount, workload.readCount, workload.checkCount))
        start = DispatchTime.now()
        var counters = try runThreads(threads) { _ in try self.ingest(reader: reader, latencies: latencies, sync: self.durable) }
        seconds = elapsed(since: start)
        var stats = latencies.stats(count: counters.ops)
        emit("ingest", ops: counters.ops, seconds: seconds, latency: stats, fields: [
            ("entries", .int(counters.entries)), ("entries_per_s", .double(Double(counters.entries) / seconds)),
            ("blocked", .int(counters.blocked)), ("mismatches", .int(counters.mismatches)),
            ("limit", .int(timed)), ("sends_total", .int(workload.sendCount)),
        ])
        var totalEntries = counters.entries
        var ingestMismatches = counters.mismatches
        if timed < workload.sendCount {
            reader.setStop(workload.sendCount)
            start = DispatchTime.now()
            let rest = try runThreads(1) { _ in try self.ingest(reader: reader, latencies: nil, sync: false) }
            seconds = elapsed(since: start)
            emit("ingest_rest", ops: rest.ops, seconds: seconds, fields: [
                ("entries", .int(rest.entries)), ("entries_per_s", .double(Double(rest.entries) / seconds)),
                ("blocked", .int(rest.blocked)), ("mismatches", .int(rest.mismatches)),
                ("note", .string("sends after --limit, loaded buffered with 1 thread; not a measurement")),
            ])
            totalEntries += rest.entries
            ingestMismatches += rest.mismatches
        }
        let verified = ingestMismatches == 0

        // settle
        start = DispatchTime.now()
        let detail = try store.settle()
        seconds = elapsed(since: start)
        var (disk, logical) = diskUsage(databaseDirectory)
        emit("settle", ops: 1, seconds: seconds, throughput: false, fields: [
            ("bytes_on_disk", .int(disk)), ("logical_bytes", .int(logical)), ("detail", .string(detail)),
        ])

        // reads
        let nextRead = SharedCounter()
        start = DispatchTime.now()
        counters = try runThreads(threads) { _ in try self.reads(next: nextRead, latencies: latencies, verify: verified) }
        seconds = elapsed(since: start)
        stats = latencies.stats(count: counters.ops)
        emit("reads", ops: counters.ops, seconds: seconds, latency: stats, fields: [
            ("rows", .int(counters.rows)), ("rows_per_s", .double(Double(counters.rows) / seconds)),
            ("value_bytes", .int(counters.valueBytes)), ("mismatches", .int(counters.mismatches)),
            ("verified", .bool(verified)),
        ])

        // checks
        let nextCheck = SharedCounter()
        start = DispatchTime.now()
        counters = try runThreads(threads) { _ in try self.checks(next: nextCheck, latencies: latencies) }
        seconds = elapsed(since: start)
        stats = latencies.stats(count: counters.ops)
        emit("checks", ops: counters.ops, seconds: seconds, latency: stats, fields: [
            ("found", .int(counters.found)), ("mismatches", .int(counters.mismatches)),
        ])

        // size, after a clean close
        start = DispatchTime.now()
        try store.close()
        seconds = elapsed(since: start)
        (disk, logical) = diskUsage(databaseDirectory)
        emit("size", ops: totalEntries, seconds: seconds, throughput: false, fields: [
            ("entries", .int(totalEntries)), ("bytes_on_disk", .int(disk)), ("logical_bytes", .int(logical)),
            ("bytes_per_entry", .double(totalEntries > 0 ? Double(disk) / Double(totalEntries) : 0)),
        ])
    }

    // MARK: Phases

    private func ingest(reader: LoadReader, latencies: LatencyRecorder?, sync: Bool) throws -> Counters {
        var counters = Counters()
        var record: [UInt8] = []
        record.reserveCapacity(4096)
        while reader.next(into: &record) {
            let begin = DispatchTime.now().uptimeNanoseconds
            try record.withUnsafeBytes { raw in
                let op = raw[0]
                let flagged = raw[1] & 1 != 0
                let contentLength = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
                let sender = Array(raw[8..<24])
                let target = Array(raw[24..<40])
                let messageId = Array(raw[40..<56])
                let date = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 56, as: Int64.self))
                let content = raw[64..<(64 + contentLength)]
                var sortKey: [UInt8] = []
                sortKey.reserveCapacity(24)
                withUnsafeBytes(of: UInt64(bitPattern: date).bigEndian) { sortKey.append(contentsOf: $0) }
                sortKey.append(contentsOf: messageId)
                var batch = WriteBatch()
                if op == 1 {
                    let blocked = try store.get(blocks, RowKey(partitionKey: target, sortKey: sender)) != nil
                    if blocked != flagged { counters.mismatches += 1 }
                    if blocked {
                        counters.blocked += 1
                    } else {
                        var value: [UInt8] = [BenchLayout.direct]
                        value.reserveCapacity(17 + contentLength)
                        value.append(contentsOf: sender)
                        value.append(contentsOf: content)
                        batch.insert(inbox, RowKey(partitionKey: target, sortKey: sortKey), value: value)
                        counters.entries += 1
                    }
                } else {
                    guard let members = workload.groups[Workload.ID(UnsafeRawBufferPointer(rebasing: raw[24..<40]))] else {
                        throw BenchError("group message to an unknown group")
                    }
                    var body = sender
                    body.append(contentsOf: target)
                    body.append(contentsOf: content)
                    batch.insert(bodies, RowKey(partitionKey: messageId), value: body)
                    for member in members where member != sender {
                        batch.insert(inbox, RowKey(partitionKey: member, sortKey: sortKey), value: [BenchLayout.groupReference])
                        counters.entries += 1
                    }
                }
                if !batch.isEmpty { try store.write(batch, sync: sync) }
            }
            let nanos = DispatchTime.now().uptimeNanoseconds - begin
            latencies?.record(Float(Double(nanos) / 1000))
            counters.ops += 1
        }
        return counters
    }

    private func reads(next: SharedCounter, latencies: LatencyRecorder, verify: Bool) throws -> Counters {
        var counters = Counters()
        var page = [UInt8]()
        page.reserveCapacity(1 << 20)
        try workload.reads.withUnsafeBytes { raw in
            while true {
                let index = next.next()
                guard index < workload.readCount else { break }
                let base = 16 + index * 32
                let recipient = Array(raw[base..<(base + 16)])
                let after = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: base + 16, as: Int64.self))
                let limit = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: base + 24, as: UInt16.self)))
                let expected = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: base + 28, as: UInt32.self)))
                let begin = DispatchTime.now().uptimeNanoseconds
                var start: [UInt8] = []
                withUnsafeBytes(of: UInt64(bitPattern: after + 1).bigEndian) { start.append(contentsOf: $0) }
                page.removeAll(keepingCapacity: true)
                var rows = 0
                try store.withUnsafeRows(inbox, partitionKey: recipient, from: .at(start), limit: limit) { sortKey, value in
                    rows += 1
                    if value.first == BenchLayout.groupReference {
                        let messageId = Array(sortKey[8..<24])
                        guard let body = try store.get(bodies, RowKey(partitionKey: messageId)) else {
                            throw BenchError("group body missing")
                        }
                        withUnsafeBytes(of: UInt32(body.count).littleEndian) { page.append(contentsOf: $0) }
                        page.append(contentsOf: body)
                    } else {
                        withUnsafeBytes(of: UInt32(value.count + 15).littleEndian) { page.append(contentsOf: $0) }
                        page.append(contentsOf: value[1..<17])
                        page.append(contentsOf: repeatElement(0, count: 16))
                        page.append(contentsOf: value[17...])
                    }
                    return true
                }
                let nanos = DispatchTime.now().uptimeNanoseconds - begin
                latencies.record(Float(Double(nanos) / 1000))
                counters.ops += 1
                counters.rows += rows
                counters.valueBytes += page.count  // each value with a 4-byte length, as the peer harness counts
                if verify && rows != expected { counters.mismatches += 1 }
            }
        }
        return counters
    }

    private func checks(next: SharedCounter, latencies: LatencyRecorder) throws -> Counters {
        var counters = Counters()
        try workload.checks.withUnsafeBytes { raw in
            while true {
                let index = next.next()
                guard index < workload.checkCount else { break }
                let base = 16 + index * 33
                let key = RowKey(partitionKey: Array(raw[base..<(base + 16)]), sortKey: Array(raw[(base + 16)..<(base + 32)]))
                let expected = raw[base + 32] == 1
                let begin = DispatchTime.now().uptimeNanoseconds
                let found = try store.get(blocks, key) != nil
                let nanos = DispatchTime.now().uptimeNanoseconds - begin
                latencies.record(Float(Double(nanos) / 1000))
                counters.ops += 1
                if found { counters.found += 1 }
                if found != expected { counters.mismatches += 1 }
            }
        }
        return counters
    }

    // MARK: Plumbing

    /// Runs `body` on `count` OS threads (not Swift's cooperative pool) and sums their counters.
    private func runThreads(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Counters) throws -> Counters {
        let results = Mutex<[Result<Counters, any Error>]>([])
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            let thread = Foundation.Thread {
                let result = Result { try body(index) }
                results.withLock { $0.append(result) }
                group.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        group.wait()
        return try results.withLock { try $0.map { try $0.get() } }.reduce(Counters(), +)
    }

    private func elapsed(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    enum JSONValue {
        case int(Int), double(Double), string(String), bool(Bool)
        var text: String {
            switch self {
            case .int(let v): return String(v)
            case .double(let v): return String(format: "%.1f", v.isFinite ? v : 0)
            case .bool(let v): return v ? "true" : "false"
            case .string(let v):
                var escaped = "\""
                for scalar in v.unicodeScalars {
                    switch scalar {
                    case "\"": escaped += "\\\""
                    case "\\": escaped += "\\\\"
                    case _ where scalar.value < 0x20: escaped += String(format: "\\u%04x", scalar.value)
                    default: escaped.unicodeScalars.append(scalar)
                    }
                }
                return escaped + "\""
            }
        }
    }

    private var tableHeaderPrinted = false

    private func emit(
        _ phase: String, ops: Int, seconds: Double, throughput: Bool = true,
        latency: LatencyRecorder.Stats? = nil, fields: [(String, JSONValue)] = []
    ) {
        var line = "{\"schema\":\"msgbench/1\",\"engine\":\"\(engineName)\",\"phase\":\"\(phase)\""
        line += ",\"durability\":\"\(durable ? "durable" : "buffered")\",\"threads\":\(threads)"
        line += ",\"workload\":\"\(workload.id)\",\"ops\":\(ops),\"seconds\":\(String(format: "%.3f", seconds))"
        if throughput { line += ",\"ops_per_s\":\(String(format: "%.1f", seconds > 0 ? Double(ops) / seconds : 0))" }
        if let latency {
            line += String(format: ",\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"mean_us\":%.2f,\"max_us\":%.1f",
                           latency.p50, latency.p99, latency.p999, latency.mean, latency.max)
        }
        for (key, value) in fields { line += ",\"\(key)\":\(value.text)" }
        line += ",\"peak_rss_bytes\":\(peakRSSBytes())}"
        FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!)
        if !tableHeaderPrinted {
            FileHandle.standardError.write(String(format: "%-10@ %-12@ %-8@ %3@ %10@ %9@ %11@ %9@ %9@\n",
                "engine", "phase", "durab", "thr", "ops", "seconds", "ops/s", "p50_us", "p99_us").data(using: .utf8)!)
            tableHeaderPrinted = true
        }
        let rate = throughput && seconds > 0 ? String(format: "%.1f", Double(ops) / seconds) : "-"
        let p50 = latency.map { String(format: "%.1f", $0.p50) } ?? "-"
        let p99 = latency.map { String(format: "%.1f", $0.p99) } ?? "-"
        let row = String(format: "%-10@ %-12@ %-8@ %3d %10d %9.2f %11@ %9@ %9@\n", engineName, phase,
                         durable ? "durable" : "buffered", threads, ops, seconds, rate, p50, p99)
        FileHandle.standardError.write(row.data(using: .utf8)!)
    }
}

/// Per-operation latencies (µs), 4 bytes each, as the peer harness keeps them.
final class LatencyRecorder: @unchecked Sendable {
    struct Stats { var p50, p99, p999, mean, max: Double }

    private let values: UnsafeMutablePointer<Float>
    private let capacity: Int
    private let count = Atomic<Int>(0)

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        values = .allocate(capacity: self.capacity)
    }

    deinit { values.deallocate() }

    func record(_ microseconds: Float) {
        let index = count.add(1, ordering: .relaxed).oldValue
        if index < capacity { values[index] = microseconds }
    }

    /// Nearest-rank percentiles over the recorded values; resets the recorder.
    func stats(count ops: Int) -> Stats {
        let n = min(count.exchange(0, ordering: .relaxed), capacity)
        guard n > 0 else { return Stats(p50: 0, p99: 0, p999: 0, mean: 0, max: 0) }
        var buffer = UnsafeMutableBufferPointer(start: values, count: n)
        buffer.sort()
        func rank(_ p: Double) -> Double {
            let index = Int((p * Double(n)).rounded(.up)) - 1
            return Double(buffer[Swift.max(0, Swift.min(n - 1, index))])
        }
        let mean = buffer.reduce(0.0) { $0 + Double($1) } / Double(n)
        return Stats(p50: rank(0.5), p99: rank(0.99), p999: rank(0.999), mean: mean, max: Double(buffer[n - 1]))
    }
}

/// `getrusage` peak RSS in bytes.
func peakRSSBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
}

/// (allocated bytes, sum of file sizes) of every file under `path`, like `du`.
func diskUsage(_ path: String) -> (Int, Int) {
    var allocated = 0, logical = 0
    guard let enumerator = FileManager.default.enumerator(atPath: path) else { return (0, 0) }
    while let name = enumerator.nextObject() as? String {
        var info = stat()
        if lstat(path + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
            allocated += Int(info.st_blocks) * 512
            logical += Int(info.st_size)
        }
    }
    return (allocated, logical)
}

/// A counter threads take work indexes from.
final class SharedCounter: Sendable {
    private let value = Atomic<Int>(0)
    /// The next index (0, 1, 2, …).
    func next() -> Int { value.add(1, ordering: .relaxed).oldValue }
}
