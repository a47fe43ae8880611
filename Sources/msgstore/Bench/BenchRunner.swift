import Foundation
import Logging
import Messaging
import MessagingEngineStorage
import MsgStore
import Synchronization

/// Runs the phases of `docs/workload.md` in-process against the messaging
/// storage `msgstore serve` uses — ``EngineMessagingStorage``, opened by the
/// same function with the same options, driven through the `MessagingStorage`
/// protocol — and prints one `msgbench/1` JSON line per phase on stdout (a
/// human table on stderr), so its lines compare one to one with `Tools/peers/run`.
///
/// A send makes the storage calls the service makes once it has validated
/// the request (users and groups are not created: the workload does not name
/// them up front):
/// - direct: `isBlocked(recipient, sender)`, then `deliverDirectMessage`
///   (one atomic write, dated by the commit stamp);
/// - group: `enqueueGroupMessage` (the whole message queued: one durable
///   write). The copies are written as the server writes them: by a
///   ``FanOutWorker`` with serve's default options, running beside the
///   clients (receive, batches of members after the cursor, ack); the sender
///   gets a copy too (the server's rule; the workload gives none).
///
/// `ingest` measures acknowledged sends (a group send ends when it is
/// queued, when the server answers `202`), while the worker fans out
/// beside it; `drain` measures the time after the last send until the
/// queue is empty — every copy readable. Reads start after the drain.
///
/// Inbox dates are commit stamps, not the workload's dates, so a read "after
/// date D" starts after the stamp the first send dated later than D got.
final class BenchRunner: Sendable {
    let workload: Workload
    let databaseDirectory: String
    let durable: Bool
    let threads: Int
    let limit: Int?
    let memtableBudgetMib: Int
    let engineName = "msgstore"
    private let fanOut: FanOutOptions
    private let tableHeaderPrinted = Atomic<Bool>(false)
    /// The highest `anonRSSBytes()` seen at a phase end (as the peer harness keeps it).
    private let peakAnonSample = Mutex<Int>(0)
    /// The progress line on a terminal.
    let progress: BenchProgress

    init(workload: Workload, databaseDirectory: String, durable: Bool, threads: Int, limit: Int?, memtableBudgetMib: Int,
         fanOut: FanOutOptions, showsProgress: Bool = false) {
        self.progress = BenchProgress(enabled: showsProgress)
        self.fanOut = fanOut
        self.memtableBudgetMib = memtableBudgetMib
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

    func run(logger: Logger) async throws {
        try FileManager.default.createDirectory(atPath: databaseDirectory, withIntermediateDirectories: true)
        let sync: SyncMode = durable ? .always : .none

        // open: exactly as `msgstore serve --data DIR --sync MODE` opens it.
        var start = DispatchTime.now()
        let options = ServeCommand.engineStorageOptions(directory: databaseDirectory, sync: sync, memtableBudgetMib: memtableBudgetMib)
        var storage = try await makeEngineMessagingStorage(options: options, logger: logger)
        var seconds = elapsed(since: start)
        let config = "sync=\(sync.rawValue) storage=EngineMessagingStorage as msgstore serve opens it "
            + "(wal_segment=\((options.walSegmentBytes ?? 0) >> 20)MiB memtable_budget=\((options.memtableBudgetBytes ?? 0) >> 20)MiB, engine defaults otherwise) "
            + "fanout=FanOutWorker beside the clients as msgstore serve runs it (\(fanOut.consumers) consumers, batches of \(fanOut.membersPerBatch), the sender gets a copy)"
        emit("open", ops: 1, seconds: seconds, throughput: false, fields: [("version", .string("msgstore 0.1")), ("config", .string(config))])

        // load_groups: not a peer phase (the peers keep groups in memory); the fan-out reads members from storage.
        let ticker = progress.startTicker()
        defer { ticker.cancel() }
        progress.begin("load_groups", total: workload.groups.count)
        start = DispatchTime.now()
        let groupIDs = workload.groups.map { GroupID(Self.uuid($0.id[...])) }
        try await forEach(0..<workload.groups.count, concurrency: 64) { [storage] index in
            let group = groupIDs[index]
            try await storage.createGroup(group)
            for member in self.workload.groups[index].members {
                try await storage.addMember(UserID(Self.uuid(member[...])), to: group)
            }
        }
        seconds = elapsed(since: start)
        let memberCount = workload.groups.reduce(0) { $0 + $1.members.count }
        emit("load_groups", ops: workload.groups.count, seconds: seconds, fields: [
            ("members", .int(memberCount)),
            ("note", .string("createGroup + addMember, 64 concurrent tasks; not a peer phase")),
        ])

        // load_blocks: one setBlock per pair (one atomic write each), 64 concurrent tasks.
        progress.begin("load_blocks", total: workload.blockCount)
        start = DispatchTime.now()
        try await forEach(0..<workload.blockCount, concurrency: 64) { [storage] record in
            let (blocker, blocked) = self.workload.block(record)
            try await storage.setBlock(blocker: UserID(Self.uuid(blocker)), blocked: UserID(Self.uuid(blocked)), isBlocked: true)
        }
        seconds = elapsed(since: start)
        emit("load_blocks", ops: workload.blockCount, seconds: seconds)

        // ingest
        let thresholds = workload.readThresholds()
        let reader = try LoadReader(path: workload.directory + "/load.bin", total: workload.sendCount, thresholds: thresholds)
        let stamps = StampTable(count: workload.sendCount)
        let timed = min(limit ?? workload.sendCount, workload.sendCount)
        reader.setStop(timed)
        let latencies = LatencyRecorder(capacity: max(workload.sendCount, workload.readCount, workload.checkCount))
        let syncsBefore = SyncCounts(storage)
        var worker = BenchFanOut(storage: storage, options: fanOut, logger: logger)
        progress.begin("ingest", total: timed)
        start = DispatchTime.now()
        let timedStorage = storage
        var counters = try await runTasks(threads) { _ in
            try await self.ingest(storage: timedStorage, reader: reader, stamps: stamps, latencies: latencies)
        }
        seconds = elapsed(since: start)
        var stats = latencies.stats(count: counters.ops)
        let syncs = SyncCounts(storage) - syncsBefore
        let copiesDuringIngest = worker.copiesWritten
        emit("ingest", ops: counters.ops, seconds: seconds, latency: stats, fields: [
            ("entries", .int(counters.entries + copiesDuringIngest)),
            ("entries_per_s", .double(Double(counters.entries + copiesDuringIngest) / seconds)),
            ("direct_entries", .int(counters.entries)), ("group_copies", .int(copiesDuringIngest)),
            ("blocked", .int(counters.blocked)), ("mismatches", .int(counters.mismatches)),
            ("limit", .int(timed)), ("sends_total", .int(workload.sendCount)),
            ("log_syncs", .int(syncs.logSyncs)), ("commit_groups", .int(syncs.groups)), ("batches", .int(syncs.batches)),
            ("batches_per_sync", .double(syncs.logSyncs > 0 ? Double(syncs.batches) / Double(syncs.logSyncs) : 0)),
            ("queue_syncs", .int(syncs.queueSyncs)),
        ])
        emitMemory(after: "ingest", storage: storage)
        let ingestSeconds = seconds
        progress.begin("drain (fan-out)", total: nil)
        start = DispatchTime.now()
        try await worker.drain()
        seconds = elapsed(since: start)
        counters.entries += worker.copiesWritten
        emit("drain", ops: worker.messagesDelivered, seconds: seconds, throughput: false, fields: [
            ("copies_after_ingest", .int(worker.copiesWritten - copiesDuringIngest)),
            ("entries", .int(counters.entries)),
            ("sends_per_s_with_drain", .double(Double(counters.ops) / (ingestSeconds + seconds))),
            ("entries_per_s_with_drain", .double(Double(counters.entries) / (ingestSeconds + seconds))),
            ("note", .string("after the last acknowledged send, until the fan-out queue is empty (every copy readable); ops: group messages fanned out in ingest + drain")),
        ])
        await worker.stop()
        var totalEntries = counters.entries
        var ingestMismatches = counters.mismatches
        if timed < workload.sendCount {
            // The rest, loaded buffered by 1 task: reopened as `msgstore serve --sync none`
            // opens it (the storage has no per-write sync switch). The reopen is not timed.
            if durable {
                try await storage.close()
                storage = try await makeEngineMessagingStorage(
                    options: ServeCommand.engineStorageOptions(directory: databaseDirectory, sync: .none,
                                                                  memtableBudgetMib: memtableBudgetMib), logger: logger)
            }
            reader.setStop(workload.sendCount)
            worker = BenchFanOut(storage: storage, options: fanOut, logger: logger)
            progress.begin("ingest_rest", total: workload.sendCount - timed)
            start = DispatchTime.now()
            let restStorage = storage
            var rest = try await runTasks(1) { _ in
                try await self.ingest(storage: restStorage, reader: reader, stamps: stamps, latencies: nil)
            }
            try await worker.drain()
            await worker.stop()
            rest.entries += worker.copiesWritten
            seconds = elapsed(since: start)
            emit("ingest_rest", ops: rest.ops, seconds: seconds, fields: [
                ("entries", .int(rest.entries)), ("entries_per_s", .double(Double(rest.entries) / seconds)),
                ("blocked", .int(rest.blocked)), ("mismatches", .int(rest.mismatches)),
                ("note", .string("sends after --limit, loaded buffered with 1 task (storage reopened with sync none); not a measurement")),
            ])
            totalEntries += rest.entries
            ingestMismatches += rest.mismatches
        }
        let verified = ingestMismatches == 0
        stamps.takeSuffixMinimum()
        let anchors = reader.anchors()
        let loaded = storage

        // settle
        progress.begin("settle", total: nil)
        start = DispatchTime.now()
        let detail = try (loaded as? EngineMessagingStorage)?.settle() ?? "not an engine storage"
        seconds = elapsed(since: start)
        var (disk, logical) = diskUsage(databaseDirectory)
        emit("settle", ops: 1, seconds: seconds, throughput: false, fields: [
            ("bytes_on_disk", .int(disk)), ("logical_bytes", .int(logical)), ("detail", .string(detail)),
        ])

        // reads
        let nextRead = SharedCounter()
        progress.begin("reads", total: workload.readCount)
        start = DispatchTime.now()
        counters = try await runTasks(threads) { _ in
            try await self.reads(storage: loaded, next: nextRead, thresholds: thresholds, anchors: anchors, stamps: stamps,
                                 latencies: latencies, verify: verified)
        }
        seconds = elapsed(since: start)
        stats = latencies.stats(count: counters.ops)
        emit("reads", ops: counters.ops, seconds: seconds, latency: stats, fields: [
            ("rows", .int(counters.rows)), ("rows_per_s", .double(Double(counters.rows) / seconds)),
            ("value_bytes", .int(counters.valueBytes)), ("mismatches", .int(counters.mismatches)),
            ("verified", .bool(verified)),
        ])

        // checks
        let nextCheck = SharedCounter()
        progress.begin("checks", total: workload.checkCount)
        start = DispatchTime.now()
        counters = try await runTasks(threads) { _ in try await self.checks(storage: loaded, next: nextCheck, latencies: latencies) }
        seconds = elapsed(since: start)
        stats = latencies.stats(count: counters.ops)
        emit("checks", ops: counters.ops, seconds: seconds, latency: stats, fields: [
            ("found", .int(counters.found)), ("mismatches", .int(counters.mismatches)),
        ])

        emitMemory(after: "checks", storage: loaded)

        // size, after a clean close
        start = DispatchTime.now()
        try await loaded.close()
        seconds = elapsed(since: start)
        (disk, logical) = diskUsage(databaseDirectory)
        emit("size", ops: totalEntries, seconds: seconds, throughput: false, fields: [
            ("entries", .int(totalEntries)), ("bytes_on_disk", .int(disk)), ("logical_bytes", .int(logical)),
            ("bytes_per_entry", .double(totalEntries > 0 ? Double(disk) / Double(totalEntries) : 0)),
        ])
    }

    // MARK: Phases

    private func ingest(storage: any MessagingStorage, reader: LoadReader, stamps: StampTable, latencies: LatencyRecorder?) async throws -> Counters {
        var counters = Counters()
        var record: [UInt8] = []
        record.reserveCapacity(4096)
        while let index = reader.next(into: &record) {
            let begin = DispatchTime.now().uptimeNanoseconds
            let op = record[0]
            let flagged = record[1] & 1 != 0
            let contentLength = record.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self))) }
            let sender = UserID(Self.uuid(record[8..<24]))
            let message = OutgoingMessage(messageID: MessageID(Self.uuid(record[40..<56])), sender: sender,
                                          content: String(decoding: record[64..<(64 + contentLength)], as: UTF8.self))
            if op == 1 {
                let recipient = UserID(Self.uuid(record[24..<40]))
                let blocked = try await storage.isBlocked(blocker: recipient, blocked: sender)
                if blocked != flagged { counters.mismatches += 1 }
                if blocked {
                    counters.blocked += 1
                } else {
                    let date = try await storage.deliverDirectMessage(message, to: recipient)
                    stamps.set(index, date.microsecondsSinceEpoch)
                    counters.entries += 1
                }
                latencies?.record(Float(Double(DispatchTime.now().uptimeNanoseconds - begin) / 1000))
            } else {
                let sentAt = try await storage.enqueueGroupMessage(message, to: GroupID(Self.uuid(record[24..<40])))
                stamps.set(index, sentAt.microsecondsSinceEpoch)
                latencies?.record(Float(Double(DispatchTime.now().uptimeNanoseconds - begin) / 1000))
            }
            counters.ops += 1
            progress.advance()
        }
        return counters
    }

    private func reads(
        storage: any MessagingStorage, next: SharedCounter, thresholds: [Int64], anchors: [Int], stamps: StampTable,
        latencies: LatencyRecorder, verify: Bool
    ) async throws -> Counters {
        var counters = Counters()
        while true {
            let index = next.next()
            guard index < workload.readCount else { break }
            let (recipient, afterDate, limit, expected) = workload.read(index)
            // The workload's date → the commit stamps: rows after D are those of the sends after D.
            let anchor = anchors[Workload.firstIndex(in: thresholds, notBelow: afterDate)]
            let after = MessageDate(microsecondsSinceEpoch: stamps.firstStamp(atOrAfter: anchor).map { $0 - 1 } ?? Int64.max - 1)
            let begin = DispatchTime.now().uptimeNanoseconds
            let page = try await storage.readInbox(of: UserID(Self.uuid(recipient)), after: after, limit: limit)
            let nanos = DispatchTime.now().uptimeNanoseconds - begin
            latencies.record(Float(Double(nanos) / 1000))
            counters.ops += 1
            counters.rows += page.count
            // Each value as the peer harness counts it: a 4-byte length, sender, group id, content.
            counters.valueBytes += page.reduce(0) { $0 + 4 + 16 + 16 + $1.content.utf8.count }
            // The server gives a group message's sender a copy too (the workload
            // does not), so a page holds at least the rows the workload expects.
            if verify && page.count < expected { counters.mismatches += 1 }
            progress.advance()
        }
        return counters
    }

    private func checks(storage: any MessagingStorage, next: SharedCounter, latencies: LatencyRecorder) async throws -> Counters {
        var counters = Counters()
        while true {
            let index = next.next()
            guard index < workload.checkCount else { break }
            let (blocker, blocked, expected) = workload.check(index)
            let begin = DispatchTime.now().uptimeNanoseconds
            let found = try await storage.isBlocked(blocker: UserID(Self.uuid(blocker)), blocked: UserID(Self.uuid(blocked)))
            let nanos = DispatchTime.now().uptimeNanoseconds - begin
            latencies.record(Float(Double(nanos) / 1000))
            counters.ops += 1
            if found { counters.found += 1 }
            if found != expected { counters.mismatches += 1 }
            progress.advance()
        }
        return counters
    }

    // MARK: Plumbing

    /// 16 bytes as a UUID.
    static func uuid(_ b: ArraySlice<UInt8>) -> UUID {
        let i = b.startIndex
        return UUID(uuid: (b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7],
                           b[i + 8], b[i + 9], b[i + 10], b[i + 11], b[i + 12], b[i + 13], b[i + 14], b[i + 15]))
    }

    /// Runs `body` in `count` concurrent tasks (the server's model: async
    /// storage calls from tasks) and sums their counters.
    private func runTasks(_ count: Int, _ body: @escaping @Sendable (Int) async throws -> Counters) async throws -> Counters {
        try await withThrowingTaskGroup(of: Counters.self) { group in
            for index in 0..<count { group.addTask { try await body(index) } }
            return try await group.reduce(Counters(), +)
        }
    }

    /// Calls `body` for every element of `range`, at most `concurrency` at a time.
    private func forEach(_ range: Range<Int>, concurrency: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let next = SharedCounter()
        _ = try await runTasks(concurrency) { _ in
            while true {
                let index = range.lowerBound + next.next()
                guard index < range.upperBound else { return Counters() }
                try await body(index)
                self.progress.advance()
            }
        }
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

    /// A `memory` line: what the store holds, by part, against the process's RSS.
    private func emitMemory(after phase: String, storage: any MessagingStorage) {
        guard let engine = storage as? EngineMessagingStorage else { return }
        let statistics = engine.storeStatistics
        let mib = { (bytes: Int) in JSONValue.double(Double(bytes) / 1_048_576) }
        let parts = statistics.activeMemtableBytes + statistics.immutableMemtableBytes + statistics.blockCacheBytes
            + statistics.rowCacheBytes + statistics.tableMetadataBytes
        emit("memory", ops: 1, seconds: 0, throughput: false, fields: [
            ("after", .string(phase)),
            ("memtables_mib", mib(statistics.activeMemtableBytes + statistics.immutableMemtableBytes)),
            ("block_cache_mib", mib(statistics.blockCacheBytes)),
            ("row_cache_mib", mib(statistics.rowCacheBytes)),
            ("index_filter_mib", mib(statistics.tableMetadataBytes)),
            ("store_total_mib", mib(parts)),
            ("rss_mib", mib(currentRSSBytes())),
            ("budgets", .string("memtables \(engine.storeOptions.memtableBudgetBytes >> 20) MiB, block cache \(engine.storeOptions.blockCacheBytes >> 20) MiB, row cache \(engine.storeOptions.rowCacheBytes >> 20) MiB")),
        ])
    }

    private func emit(
        _ phase: String, ops: Int, seconds: Double, throughput: Bool = true,
        latency: LatencyRecorder.Stats? = nil, fields: [(String, JSONValue)] = []
    ) {
        progress.end()
        var line = "{\"schema\":\"msgbench/1\",\"engine\":\"\(engineName)\",\"phase\":\"\(phase)\""
        line += ",\"durability\":\"\(durable ? "durable" : "buffered")\",\"threads\":\(threads)"
        line += ",\"workload\":\"\(workload.id)\",\"ops\":\(ops),\"seconds\":\(String(format: "%.3f", seconds))"
        if throughput { line += ",\"ops_per_s\":\(String(format: "%.1f", seconds > 0 ? Double(ops) / seconds : 0))" }
        if let latency {
            line += String(format: ",\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"mean_us\":%.2f,\"max_us\":%.1f",
                           latency.p50, latency.p99, latency.p999, latency.mean, latency.max)
        }
        for (key, value) in fields { line += ",\"\(key)\":\(value.text)" }
        let anon = anonRSSBytes()
        let peakAnon = peakAnonSample.withLock { peak in
            peak = max(peak, anon)
            return peak
        }
        line += ",\"anon_rss_bytes\":\(anon),\"peak_anon_rss_bytes\":\(peakAnon)"
        line += ",\"peak_rss_bytes\":\(peakRSSBytes())}"
        FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!)
        if !tableHeaderPrinted.exchange(true, ordering: .relaxed) {
            FileHandle.standardError.write(String(format: "%-10@ %-12@ %-8@ %3@ %10@ %9@ %11@ %9@ %9@\n",
                "engine", "phase", "durab", "thr", "ops", "seconds", "ops/s", "p50_us", "p99_us").data(using: .utf8)!)
        }
        let rate = throughput && seconds > 0 ? String(format: "%.1f", Double(ops) / seconds) : "-"
        let p50 = latency.map { String(format: "%.1f", $0.p50) } ?? "-"
        let p99 = latency.map { String(format: "%.1f", $0.p99) } ?? "-"
        let row = String(format: "%-10@ %-12@ %-8@ %3d %10d %9.2f %11@ %9@ %9@\n", engineName, phase,
                         durable ? "durable" : "buffered", threads, ops, seconds, rate, p50, p99)
        FileHandle.standardError.write(row.data(using: .utf8)!)
    }
}

/// The server's fan-out worker, run beside the bench's clients.
struct BenchFanOut {
    private let storage: any MessagingStorage
    private let worker: FanOutWorker
    private let task: Task<Void, Never>

    init(storage: any MessagingStorage, options: FanOutOptions, logger: Logger) {
        self.storage = storage
        let worker = FanOutWorker(storage: storage, options: options, logger: logger)
        self.worker = worker
        task = Task { await worker.run() }
    }

    /// Copies written so far.
    var copiesWritten: Int { Int(worker.statistics.copiesWritten) }

    /// Group messages fanned out and acknowledged so far.
    var messagesDelivered: Int { Int(worker.statistics.messagesDelivered) }

    /// Waits until the fan-out queue is empty: every copy written and visible.
    func drain() async throws {
        while try await storage.fanOutQueueStatistics().depth > 0 {
            try await Task.sleep(for: .microseconds(200))
        }
    }

    /// Stops the worker and waits for it.
    func stop() async {
        worker.stop()
        await task.value
    }
}

/// The store's and the fan-out queue's sync counters at one moment.
struct SyncCounts {
    var logSyncs = 0, groups = 0, batches = 0, queueSyncs = 0

    init(_ storage: any MessagingStorage) {
        guard let engine = storage as? EngineMessagingStorage else { return }
        let statistics = engine.storeStatistics
        logSyncs = Int(statistics.logSyncs)
        groups = Int(statistics.commitGroups)
        batches = Int(statistics.batches)
        queueSyncs = Int(engine.fanOutQueueStats.syncs)
    }

    private init(logSyncs: Int, groups: Int, batches: Int, queueSyncs: Int) {
        self.logSyncs = logSyncs
        self.groups = groups
        self.batches = batches
        self.queueSyncs = queueSyncs
    }

    static func - (a: SyncCounts, b: SyncCounts) -> SyncCounts {
        SyncCounts(logSyncs: a.logSyncs - b.logSyncs, groups: a.groups - b.groups, batches: a.batches - b.batches,
                   queueSyncs: a.queueSyncs - b.queueSyncs)
    }
}

/// The commit stamp each send's first write got (0: none, a blocked send),
/// by the send's index in `load.bin`: 8 bytes a send.
final class StampTable: @unchecked Sendable {
    private let stamps: UnsafeMutableBufferPointer<Int64>
    private let count: Int

    init(count: Int) {
        self.count = count
        stamps = .allocate(capacity: max(count, 1))
        stamps.initialize(repeating: 0)
    }

    deinit { stamps.deallocate() }

    /// Each index is written by the one task that sent it, before any read phase reads it.
    func set(_ index: Int, _ stamp: Int64) { stamps[index] = stamp }

    /// Replaces each stamp by the smallest stamp of the sends at or after it
    /// (0 where none wrote anything). Called once, after the ingest: with
    /// several client tasks a later send can commit before an earlier one,
    /// so "the stamp of the first send after D" could leave out a later send
    /// stamped below it.
    func takeSuffixMinimum() {
        var smallest: Int64 = 0
        var i = count - 1
        while i >= 0 {
            if stamps[i] != 0 && (smallest == 0 || stamps[i] < smallest) { smallest = stamps[i] }
            stamps[i] = smallest
            i -= 1
        }
    }

    /// After ``takeSuffixMinimum()``: the smallest stamp of the sends at or
    /// after `index` that wrote something, nil if none did.
    func firstStamp(atOrAfter index: Int) -> Int64? {
        guard index < count, stamps[index] != 0 else { return nil }
        return stamps[index]
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

/// The resident set now, in bytes (`/proc/self/statm`; 0 where it is missing).
func currentRSSBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Private anonymous memory now (`RssAnon` of `/proc/self/status`): the heap,
/// not the binary's and shared libraries' code pages, which peak RSS also
/// counts (about 30 MiB of Swift runtime and Foundation here, 8–20 MiB for
/// the C/C++ peers). 0 where it is missing.
func anonRSSBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("RssAnon:") {
        return (Int(line.dropFirst(8).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") ?? 0) * 1024
    }
    return 0
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
