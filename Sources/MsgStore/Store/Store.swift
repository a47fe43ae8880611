/// An open msgstore data directory: tables of rows, their secondary indexes,
/// a write-ahead log with group commit, and (see ``StoreOptions``) the bounds
/// it keeps.
///
/// ```swift
/// import MsgStore
///
/// let store = try Store.open(at: "/tmp/demo", tables: [TableSchema(name: "feed", partitionCount: 16)])
/// let feed = try store.table("feed")
/// var batch = WriteBatch()
/// batch.put(feed, RowKey(partitionKey: Array("alice".utf8), sortKey: [0, 0, 0, 0, 0, 0, 0, 0]),
///           value: Array("hi".utf8), stampSortKeyAt: 0)      // sort key = commit time
/// let receipt = try await store.write(batch)                  // durable when it returns
/// let page = try store.scan(feed, partitionKey: Array("alice".utf8), limit: 50)
/// try store.close()
/// ```
///
/// One process at a time may open a directory (a `LOCK` file held with
/// `flock`). All methods are safe to call from any thread or task.
public final class Store: Sendable {
    let engine: Engine

    private init(engine: Engine) { self.engine = engine }

    /// Opens (creating if needed) the store in `directory`, replaying its log.
    ///
    /// - Parameters:
    ///   - directory: the data directory; created if missing.
    ///   - tables: every table the program uses, with its indexes. Partition
    ///     counts must match the ones the directory was created with.
    ///   - options: bounds and durability (``StoreOptions``).
    ///   - fileSystem: where the files live; ``PosixFileSystem`` by default
    ///     (tests substitute fault-injecting ones).
    /// - Throws: ``StoreError`` — `.locked` if another process has the
    ///   directory open, `.corruption` (with file and offset) if the log is
    ///   damaged before its tail, `.schemaMismatch` if a partition count changed.
    public static func open(
        at directory: String, tables: [TableSchema], options: StoreOptions = StoreOptions(),
        fileSystem: any FileSystem = PosixFileSystem()
    ) throws -> Store {
        guard options.maxValueBytes <= StoreOptions.valueBytesLimit, options.maxKeyBytes <= 64 << 10 else {
            throw StoreError(.invalidArgument, "maxValueBytes must be at most \(StoreOptions.valueBytesLimit) and maxKeyBytes at most 65536")
        }
        guard options.maxOpenTableFiles >= 1 else {
            throw StoreError(.invalidArgument, "maxOpenTableFiles must be at least 1")
        }
        let start = CommitClock.monotonicMicroseconds()
        let engine = try Engine.open(at: directory, tables: tables, options: options, fileSystem: fileSystem)
        options.eventListener?(.recovered(StoreEvent.RecoveryInfo(
            logSegments: engine.recovery.segments.count, logRecords: engine.recovery.records,
            tornTails: engine.recovery.tornTails.count, microseconds: CommitClock.monotonicMicroseconds() - start)))
        return Store(engine: engine)
    }

    /// Closes the store's queues, stops flushes and compactions, finishes
    /// queued writes, syncs and closes the log, closes the SSTables, and
    /// releases the directory. Blocks the calling thread; in async code use
    /// `close() async`.
    ///
    /// Returns promptly even while a long compaction runs: a running flush
    /// or compaction is abandoned within a few blocks (what it wrote is
    /// deleted; its inputs, and the log holding a memtable's rows, stay), and
    /// writers stalled on it go on. Nothing acknowledged is lost: the next
    /// open replays the log.
    public func close() throws { try engine.close() }

    /// The directory the store lives in.
    public var directory: String { engine.directory }

    /// The options the store was opened with.
    public var options: StoreOptions { engine.options }

    /// Torn log tails cut while opening: (file, offset, reason). Empty after a clean shutdown.
    public var recoveredTornTails: [(file: String, offset: Int64, reason: String)] { engine.recovery.tornTails }

    // MARK: Tables

    /// The handle of a declared table.
    public func table(_ name: String) throws -> Table {
        guard let state = engine.catalog.tablesByName[name], state.handle.indexKind == nil else {
            throw StoreError(.notFound, "no table named \"\(name)\"")
        }
        return state.handle
    }

    /// The handle of an index of a table, for scanning it.
    public func index(_ name: String, on table: String) throws -> Table {
        guard let state = engine.catalog.tablesByName[table + "." + name], state.handle.indexKind != nil else {
            throw StoreError(.notFound, "no index \"\(name)\" on table \"\(table)\"")
        }
        return state.handle
    }

    // MARK: Writes

    /// Commits `batch` atomically and returns when it is durable (per
    /// ``StoreOptions/sync``) and visible. Blocks the calling thread: call it
    /// from your own threads, not from Swift's cooperative pool (use the
    /// `async` variant there).
    ///
    /// - Parameters:
    ///   - batch: the operations, applied all or none.
    ///   - sync: `true` to `fdatasync` before returning, `false` not to;
    ///     `nil` (default) follows ``StoreOptions/sync``.
    /// - Returns: the batch's sequence number and commit timestamp.
    @discardableResult
    public func write(_ batch: WriteBatch, sync: Bool? = nil) throws -> CommitReceipt {
        try validate(batch)
        return try engine.pipeline.commit(batch, sync: sync ?? (engine.options.sync == .always))
    }

    /// Commits `batch` atomically; resumes when it is durable and visible.
    /// Never waits for I/O on the caller's thread: a batch to `fdatasync`, or
    /// one that finds another group being led, suspends while the log's own
    /// thread leads; an unsynced batch that finds the pipeline idle leads in
    /// place (a `pwrite` into the page cache and the memtable inserts,
    /// microseconds — cheaper than the hop to the log thread and back).
    ///
    /// - Parameters:
    ///   - batch: the operations, applied all or none.
    ///   - sync: `true` to `fdatasync` before resuming, `false` not to;
    ///     `nil` (default) follows ``StoreOptions/sync``.
    /// - Returns: the batch's sequence number and commit timestamp.
    @discardableResult
    public func write(_ batch: WriteBatch, sync: Bool? = nil) async throws -> CommitReceipt {
        try validate(batch)
        return try await engine.pipeline.commit(batch, sync: sync ?? (engine.options.sync == .always))
    }

    private func validate(_ batch: WriteBatch) throws {
        guard batch.byteCount <= engine.options.maxBatchBytes else {
            throw StoreError(.limitExceeded, "batch of \(batch.byteCount) bytes exceeds maxBatchBytes \(engine.options.maxBatchBytes)")
        }
        if batch.maxKeyBytes > engine.options.maxKeyBytes {
            throw StoreError(.limitExceeded, "a key of \(batch.maxKeyBytes) bytes exceeds maxKeyBytes \(engine.options.maxKeyBytes)")
        }
        if batch.maxValueBytes > engine.options.maxValueBytes {
            throw StoreError(.limitExceeded, "a value of \(batch.maxValueBytes) bytes exceeds maxValueBytes \(engine.options.maxValueBytes)")
        }
    }

    // MARK: Reads

    /// A value of the commit clock, without a write: greater than the stamp
    /// of every batch committed before, less than the stamp of every batch
    /// committed after, unique. For a date that must order with commit stamps
    /// but belongs to something stored elsewhere (a message accepted into a
    /// durable queue, say). Nothing records it: after a crash the clock
    /// restarts from the last *logged* stamp or the wall clock, whichever is
    /// greater, so a caller that needs later stamps to exceed it across a
    /// crash must wait until the wall clock has passed it.
    public func reserveCommitStamp() throws -> Int64 {
        if engine.lifecycle.isClosed { throw StoreError(.closed, "the store is closed") }
        return engine.pipeline.clock.next()
    }

    /// Why the store refuses writes, or nil while it accepts them. Non-nil
    /// (code ``StoreError/Code/unavailable``) once a write or `fsync` of the
    /// log or manifest failed: the page cache can no longer be trusted, so
    /// the store stays read-only until it is reopened, which recovers every
    /// acknowledged write. Reads go on meanwhile.
    public var writeRefusal: StoreError? { engine.pipeline.failed }

    /// The last failure of a flush or compaction that is being retried with
    /// backoff (for example: the disk is full), or nil when background work
    /// succeeds. While flushes fail, writes that would exceed the memtable
    /// budget are refused with ``StoreError/Code/unavailable``.
    public var backgroundFailure: StoreError? {
        engine.scheduler.transientFailure
    }

    /// The sequence number of the newest visible batch: reads at it see every
    /// batch committed up to it, whole.
    public var lastSequence: UInt64 { engine.published.last }

    /// The current value of a row, or `nil` if it does not exist.
    public func get(_ table: Table, _ key: RowKey) throws -> [UInt8]? {
        if engine.isClosed { throw StoreError(.closed, "the store is closed") }
        guard let state = engine.catalog.tablesById[table.id] else { throw StoreError(.notFound, "unknown table \(table)") }
        return try engine.reads.get(table: state, userKey: RowKeyCoding.encode(key))
    }

    /// Whether a row exists.
    public func contains(_ table: Table, _ key: RowKey) throws -> Bool {
        try get(table, key) != nil
    }

    /// Visits the rows of one partition key in sort-key order, starting at
    /// `start`, until `limit` rows were visited or `body` returns false.
    ///
    /// The buffers passed to `body` are valid only during the call.
    /// - Complexity: one seek, then O(1) amortized per row (plus merging the
    ///   partition's sources).
    public func withUnsafeRows(
        _ table: Table, partitionKey: [UInt8], from start: ScanStart = .beginning, limit: Int = .max,
        _ body: (_ sortKey: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        if engine.isClosed { throw StoreError(.closed, "the store is closed") }
        guard limit > 0 else { return }
        guard let state = engine.catalog.tablesById[table.id] else { throw StoreError(.notFound, "unknown table \(table)") }
        var prefix: [UInt8] = []
        prefix.appendLengthPrefixed(partitionKey)
        var seekKey = prefix
        switch start {
        case .beginning: break
        case .at(let sortKey), .after(let sortKey): seekKey.append(contentsOf: sortKey)
        }
        try prefix.withUnsafeBytes { prefixBytes in
            guard let partition = state.partition(forUserKey: prefixBytes) else { return }
            let iterator = engine.reads.rowIterator(partition: partition, prefix: prefixBytes)
            try seekKey.withUnsafeBytes { try iterator.seek(userKey: $0) }
            var visited = 0
            while iterator.isValid {
                let userKey = iterator.userKey
                guard userKey.count >= prefixBytes.count,
                      compareBytes(UnsafeRawBufferPointer(rebasing: userKey[..<prefixBytes.count]), prefixBytes) == 0
                else { break }
                let sortKey = UnsafeRawBufferPointer(rebasing: userKey[prefixBytes.count...])
                if case .after(let after) = start, after.withUnsafeBytes({ compareBytes(sortKey, $0) }) == 0 {
                    try iterator.next()
                    continue
                }
                guard try body(sortKey, iterator.value) else { return }
                visited += 1
                if visited >= limit { return }
                try iterator.next()
            }
        }
    }

    /// The rows of one partition key in sort-key order, from `start`, at most `limit`.
    public func scan(_ table: Table, partitionKey: [UInt8], from start: ScanStart = .beginning, limit: Int) throws -> [Row] {
        var rows: [Row] = []
        try withUnsafeRows(table, partitionKey: partitionKey, from: start, limit: limit) { sortKey, value in
            rows.append(Row(sortKey: Array(sortKey), value: Array(value)))
            return true
        }
        return rows
    }
}

/// Where a scan starts within a partition key.
public enum ScanStart: Sendable, Equatable {
    /// At the first row.
    case beginning
    /// At the first row whose sort key is ≥ the given bytes.
    case at([UInt8])
    /// At the first row whose sort key is > the given bytes.
    case after([UInt8])
}

/// A row returned by ``Store/scan(_:partitionKey:from:limit:)``.
public struct Row: Sendable, Equatable {
    /// The row's sort key.
    public var sortKey: [UInt8]
    /// The row's value.
    public var value: [UInt8]
}
