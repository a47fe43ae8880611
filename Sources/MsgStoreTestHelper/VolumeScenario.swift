#if canImport(Glibc)
import Glibc
#endif
import MsgStore

/// `volume DIR ENTRIES`: loads ENTRIES inbox-like entries (16-byte recipient,
/// 8-byte date ‖ 16-byte id, ~70-byte value) in batches of 100 with sync off,
/// settles, reads a sample back, and prints one line with the peak RSS and
/// the configured memory budgets. Exits 1 if the peak RSS exceeds the budgets
/// plus the stated margin, or a read comes back wrong.
func runVolume(_ arguments: [String]) {
    guard arguments.count == 2, let entries = Int(arguments[1]), entries > 0 else {
        print("usage: MsgStoreTestHelper volume DIR ENTRIES")
        exit(2)
    }
    var options = StoreOptions()
    options.sync = .none
    let marginBytes = 96 << 20  // process, code, arrays of the test itself, allocator slack
    let budget = options.memtableBudgetBytes * 2 + options.blockCacheBytes + marginBytes
    do {
        let store = try Store.open(at: arguments[0], tables: [TableSchema(name: "inbox", partitionCount: 16)], options: options)
        let inbox = try store.table("inbox")
        var random = SplitMix(seed: 42)
        let started = monotonicSeconds()
        var written = 0
        while written < entries {
            var batch = WriteBatch()
            for _ in 0..<min(100, entries - written) {
                let recipient = random.bytes(16, alphabet: 5000)
                var sortKey = withUnsafeBytes(of: UInt64(1_717_200_000_000_000 + written).bigEndian) { Array($0) }
                sortKey += random.bytes(16, alphabet: 256)
                let value = random.bytes(32, alphabet: 256) + Array("message number \(written) with some words to compress".utf8)
                batch.insert(inbox, RowKey(partitionKey: recipient, sortKey: sortKey), value: value)
                written += 1
            }
            try store.write(batch)
        }
        let loaded = monotonicSeconds()
        try store.settle()
        let settled = monotonicSeconds()
        // Read back one recipient's rows from the same deterministic stream.
        var check = SplitMix(seed: 42)
        let recipient = check.bytes(16, alphabet: 5000)
        let rows = try store.scan(inbox, partitionKey: recipient, limit: 1000)
        guard !rows.isEmpty else {
            print("FAIL: the first recipient's rows are missing")
            exit(1)
        }
        let statistics = store.statistics
        try store.close()
        let rss = peakRSS()
        let line = "volume: \(entries) entries loaded in \(fmt(loaded - started)) s, settled in \(fmt(settled - loaded)) s; "
            + "peak RSS \(rss >> 20) MiB (budget: 2 × memtables \(options.memtableBudgetBytes >> 20) MiB + block cache \(options.blockCacheBytes >> 20) MiB + margin \(marginBytes >> 20) MiB = \(budget >> 20) MiB); "
            + "SSTables \(statistics.sstBytes >> 20) MiB, files/level \(statistics.levelFileCounts), write amplification \(fmt(statistics.writeAmplification)), stall \(statistics.stallMicroseconds / 1000) ms"
        print(line)
        if rss > budget {
            print("FAIL: peak RSS above the budget")
            exit(1)
        }
    } catch {
        print("FAIL: \(error)")
        exit(1)
    }
}

/// SplitMix64: a small deterministic generator (the tests use it too, as `SeededGenerator`).
public struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }
    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// `count` bytes; with `alphabet` < 256 the first 8 bytes encode a number below it (a recipient id).
    mutating func bytes(_ count: Int, alphabet: UInt64) -> [UInt8] {
        if alphabet < 256 * 256 {
            let id = next() % alphabet
            return (0..<count).map { UInt8(truncatingIfNeeded: (id &* 0x9E37_79B9) >> (8 * UInt64($0 % 8))) }
        }
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

func peakRSS() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024
}

func fmt(_ value: Double) -> String {
    let scaled = (value * 100).rounded() / 100
    return String(describing: scaled)
}

/// `queue-volume DIR RECORDS`: RECORDS records of 100 bytes enqueued durably
/// in batches of 1,000 and acked; afterwards the queue must be empty and its
/// files back to about one segment. Exits 1 otherwise.
func runQueueVolume(_ arguments: [String]) async {
    guard arguments.count == 2, let total = Int(arguments[1]), total >= 1000 else {
        print("usage: MsgStoreTestHelper queue-volume DIR RECORDS (≥ 1000)")
        exit(2)
    }
    do {
        var options = QueueOptions()
        options.sync = .always
        let queue = try DurableQueue.open(directory: arguments[0], options: options)
        let payload = [UInt8](repeating: 0x5A, count: 100)
        let started = monotonicSeconds()
        var peak: Int64 = 0
        for round in 0..<(total / 1000) {
            _ = try await queue.enqueue(batch: Array(repeating: payload, count: 1000))
            var acked = 0
            while acked < 1000 {
                let messages = try await queue.receive(max: 500)
                try await queue.ack(messages)
                acked += messages.count
            }
            if round % 100 == 0 { peak = max(peak, directoryBytes(arguments[0])) }
        }
        let stats = queue.stats
        try await queue.close()
        let final = directoryBytes(arguments[0])
        let limit = Int64(options.maxSegmentBytes) + (2 << 20)
        print("queue volume: \(total / 1000 * 1000) records in \(fmt(monotonicSeconds() - started)) s; depth \(stats.depth), acked \(stats.ackedTotal); on disk peak \(peak >> 10) KiB, final \(final >> 10) KiB (limit \(limit >> 10) KiB)")
        if stats.depth != 0 || stats.ackedTotal != UInt64(total / 1000 * 1000) || final > limit {
            print("FAIL: the queue did not drain back to near empty")
            exit(1)
        }
    } catch {
        print("FAIL: \(error)")
        exit(1)
    }
}

/// Bytes of the regular files under `path` (st_size), recursively.
func directoryBytes(_ path: String) -> Int64 {
    guard let directory = opendir(path) else { return 0 }
    defer { closedir(directory) }
    var total: Int64 = 0
    while let entry = readdir(directory) {
        let name = withUnsafePointer(to: entry.pointee.d_name) {
            $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
        }
        if name == "." || name == ".." { continue }
        var info = stat()
        let child = path + "/" + name
        guard lstat(child, &info) == 0 else { continue }
        if (info.st_mode & S_IFMT) == S_IFDIR { total += directoryBytes(child) }
        else if (info.st_mode & S_IFMT) == S_IFREG { total += Int64(info.st_size) }
    }
    return total
}
