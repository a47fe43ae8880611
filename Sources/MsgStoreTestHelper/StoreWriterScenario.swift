#if canImport(Glibc)
import Glibc
#endif
import MsgStore
import Synchronization

/// The tables of the crash scenario: `batches` holds ROWS rows per batch id
/// (pk = batch id, sk = row number); `index-probe` has a covering index so
/// that index entries are part of the same atomic batches.
public let crashTestTables: [TableSchema] = [
    TableSchema(name: "batches", partitionCount: 4),
    TableSchema(name: "marks", partitionCount: 2, indexes: [
        IndexSchema(name: "by-value", partitionCount: 2, kind: .covering) { row, value in
            RowKey(partitionKey: value, sortKey: row.partitionKey)
        },
    ]),
]

/// The row key of row `row` of batch `id`.
func crashRowKey(batch id: UInt64, row: Int) -> RowKey {
    RowKey(partitionKey: withUnsafeBytes(of: id.bigEndian) { Array($0) }, sortKey: [UInt8(row)])
}

/// Tiny memtables and levels, so that flushes and compactions run all the time
/// (the crash test kills the writer in the middle of them).
public let crashTestSmallOptions: StoreOptions = {
    var options = StoreOptions()
    options.memtableBytes = 16 << 10
    options.memtableBudgetBytes = 256 << 10
    options.level0CompactionTrigger = 2
    options.levelBaseBytes = 64 << 10
    options.levelMultiplier = 4
    options.targetFileBytes = 32 << 10
    options.walSegmentBytes = 64 << 10
    options.maxLiveLogSegments = 3
    options.dictionaryBytes = 4 << 10
    options.maxManifestBytes = 8 << 10
    return options
}()

func runStoreWriter(_ arguments: [String]) {
    guard arguments.count >= 3, let writers = Int(arguments[1]), let rows = Int(arguments[2]) else {
        print("usage: MsgStoreTestHelper store-writer DIR WRITERS ROWS [small]")
        exit(2)
    }
    let small = arguments.count > 3 && arguments[3] == "small"
    let store: Store
    do {
        store = try Store.open(at: arguments[0], tables: crashTestTables, options: small ? crashTestSmallOptions : StoreOptions())
    } catch {
        print("open failed: \(error)")
        exit(1)
    }
    let firstId = UInt64(CommitClockSeed.now())
    let nextId = Atomic<UInt64>(firstId)
    writeLine("start \(firstId)")
    let printLock = Mutex(())
    final class Done: Sendable { let count = Atomic<Int>(0) }
    let done = Done()
    for _ in 0..<writers {
        let thread = Thread {
            do {
                let batches = try store.table("batches")
                let marks = try store.table("marks")
                while true {
                    let id = nextId.add(1, ordering: .relaxed).newValue
                    var batch = WriteBatch()
                    for row in 0..<rows {
                        batch.put(batches, crashRowKey(batch: id, row: row),
                                  value: [UInt8](repeating: UInt8(truncatingIfNeeded: id), count: 64 + row))
                    }
                    batch.put(marks, RowKey(partitionKey: withUnsafeBytes(of: id.bigEndian) { Array($0) }),
                              value: Array("v\(id % 7)".utf8))
                    try store.write(batch)
                    printLock.withLock { _ in writeLine("ack \(id)") }
                }
            } catch {
                print("write failed: \(error)")
                exit(1)
            }
        }
        thread.start()
    }
    while done.count.load(ordering: .relaxed) < writers { sleep(1) }
}

/// Batch ids start from the wall clock in microseconds, so that ids of
/// successive runs never collide.
enum CommitClockSeed {
    static func now() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1_000
    }
}

/// A plain OS thread.
final class Thread: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    func start() {
        let box = Unmanaged.passRetained(self).toOpaque()
        var handle = pthread_t()
        pthread_create(&handle, nil, { raw in
            let thread = Unmanaged<Thread>.fromOpaque(raw!).takeRetainedValue()
            thread.body()
            return nil
        }, box)
        pthread_detach(handle)
    }
}

/// Writes a line to standard output at once (no stdio buffering to lose on SIGKILL).
func writeLine(_ line: String) {
    var text = line
    text.append("\n")
    text.withUTF8 { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(1, buffer.baseAddress! + offset, buffer.count - offset)
            if written <= 0 { return }
            offset += written
        }
    }
}
