import Synchronization

/// The engine behind ``Store``: the catalog of tables, the commit pipeline,
/// the version set (manifest + live SSTables), background flush and
/// compaction, and the read path. `Store` is its thin public façade.
///
/// Locks, in order: `versionLock` (manifest, version state, live logs,
/// background flags) may be held while taking a partition's lock, never the
/// reverse. The commit pipeline's lock is never held while taking either.
final class Engine: CommitTarget, @unchecked Sendable {
    let directory: String
    let fileSystem: any FileSystem
    let options: StoreOptions
    private let directoryLock: any FileLock
    let tablesById: [UInt32: TableState]
    let tablesByName: [String: TableState]
    let partitions: [Partition]
    let partitionsById: [PartitionID: Partition]
    /// Set once in `init`, before any write.
    private(set) var pipeline: CommitPipeline!
    let blockCache: BlockCache
    let rowCache: RowCache
    let counters = EngineCounters()
    /// Points where tests intervene (disarmed in production; see ``TestHooks``).
    let testHooks = TestHooks()

    /// Next number for a new file (log segment, SSTable, manifest).
    let nextFileNumber: Atomic<UInt64>
    /// The log segment being appended to.
    let currentLogNumber: Atomic<UInt64>
    let recovery: WriteAheadLog.RecoveryReport
    let manifestNotes: [String]
    /// Durable queues opened through `Store.queue(named:)`.
    let queues = Mutex<[String: DurableQueue]>([:])
    private let closed = Atomic<Bool>(false)

    // Guarded by `versionLock`:
    let versionLock: ConditionLock
    /// Wakes the flush and compaction threads.
    let backgroundWakeup: LockCondition
    /// Wakes writers stalled on memory or L0, and `settle`.
    let progressWakeup: LockCondition
    var manifest: Manifest
    var versionState: VersionState
    var liveLogs: [UInt64] {
        didSet { publishLiveLogs() }
    }
    /// `liveLogs.count` and `liveLogs.first`, readable by the commit leader
    /// without `versionLock` (which the background threads hold across
    /// manifest fsyncs: the leader must not wait on those).
    let liveLogCount = Atomic<Int>(0)
    let oldestLiveLog = Atomic<UInt64>(0)
    /// A failure that made the store read-only (a failed manifest write).
    var backgroundError: StoreError? {
        didSet { hasBackgroundError.store(backgroundError != nil, ordering: .releasing) }
    }
    /// `backgroundError != nil`, readable without `versionLock`.
    let hasBackgroundError = Atomic<Bool>(false)
    /// Flushes and compactions that failed before anything relied on their
    /// output (writing an SSTable): retried with backoff.
    var flushRetry = RetryBackoff()
    var compactionRetry = RetryBackoff()
    var stopping = false
    /// `settle()` is waiting: L0 files are compacted whatever their count.
    var settling = false
    var runningThreads = 0
    var runningJobs = 0
    /// Per partition and level: the largest key of the last file compacted (round robin).
    var compactionPointers: [PartitionID: [[UInt8]]] = [:]

    // Owned by the commit leader:
    /// Log rolls whose new segment could not be created: retried with backoff.
    var rollRetry = RetryBackoff()
    /// Partitions whose active memtable passed `memtableBytes` during the group.
    var rotationCandidates: [Partition] = []

    // MARK: Open

    static func open(at directory: String, tables: [TableSchema], options: StoreOptions, fileSystem: any FileSystem) throws -> Engine {
        try fileSystem.createDirectory(directory)
        let lock = try fileSystem.lock(joinPath(directory, StoreFileNames.lock))
        do {
            return try Engine(directory: directory, tables: tables, options: options, fileSystem: fileSystem, lock: lock)
        } catch {
            lock.unlock()
            throw error
        }
    }

    private init(directory: String, tables: [TableSchema], options: StoreOptions, fileSystem: any FileSystem, lock: any FileLock) throws {
        self.directory = directory
        self.fileSystem = fileSystem
        self.options = options
        self.directoryLock = lock
        let versionLock = ConditionLock()
        self.versionLock = versionLock
        backgroundWakeup = LockCondition(versionLock)
        progressWakeup = LockCondition(versionLock)
        let blockCache = BlockCache(capacityBytes: options.blockCacheBytes)
        self.blockCache = blockCache
        rowCache = RowCache(capacityBytes: options.rowCacheBytes)

        testHooks.armFromEnvironment()

        // 1. The manifest: live SSTables and counters.
        let loaded = try Manifest.load(directory: directory, fileSystem: fileSystem)
        var state = loaded.state
        manifestNotes = loaded.notes

        // 2. The catalog of tables.
        let allSegments = try WriteAheadLog.segments(in: directory, fileSystem: fileSystem)
        let segments = allSegments.filter { $0 >= state.logNumber }
        let firstLog = segments.first ?? state.nextFileNumber
        let states = try Engine.reconcileSchema(directory: directory, declared: tables, fileSystem: fileSystem, firstLogNumber: firstLog)
        tablesById = Dictionary(uniqueKeysWithValues: states.map { ($0.handle.id, $0) })
        tablesByName = Dictionary(uniqueKeysWithValues: states.map { ($0.handle.name, $0) })
        partitions = states.flatMap(\.partitions)
        partitionsById = Dictionary(uniqueKeysWithValues: partitions.map { ($0.id, $0) })

        // 3. Open every live SSTable.
        let partitionsById = self.partitionsById
        for (id, levels) in state.files {
            guard let partition = partitionsById[id] else {
                throw StoreError.corruption("the manifest lists files of unknown table id \(id.tableId) partition \(id.partition)",
                                            file: joinPath(directory, StoreFileNames.manifest(loaded.manifestNumber ?? 0)), offset: nil)
            }
            var version = PartitionVersion()
            for (level, files) in levels.enumerated() {
                version.levels[level] = try files.map {
                    try SSTableFile(metadata: $0, directory: directory, fileSystem: fileSystem, cache: blockCache)
                }
            }
            partition.installRecovered(version)
        }

        // 4. Replay the log into the memtables, skipping what is already in SSTables.
        var lastSequence = state.lastSequence
        var clock = CommitClock(last: state.lastTimestamp)
        let mode: LogReader.Mode = options.recovery == .strict ? .strict : .pointInTime
        let byId = tablesById
        let flushed = state.flushed
        recovery = try WriteAheadLog.replay(directory: directory, numbers: segments, fileSystem: fileSystem, mode: mode) { record, file, offset in
            guard let header = BatchDecoder.header(record) else {
                throw StoreError.corruption("log record too short for a batch header", file: file, offset: offset)
            }
            let (last, overflow) = header.baseSequence.addingReportingOverflow(UInt64(max(header.count, 1)) - 1)
            guard !overflow, header.baseSequence > 0, last < UInt64.max - 1 << 32 else {
                throw StoreError.corruption("batch sequence \(header.baseSequence) (+\(header.count)) is out of range", file: file, offset: offset)
            }
            try Engine.apply(record, tables: byId, skipping: flushed, file: file, offset: offset)
            clock.observe(header.timestamp)
            lastSequence = max(lastSequence, last)
        }
        for sequence in state.flushed.values { lastSequence = max(lastSequence, sequence) }

        // 5. A new manifest holding the recovered state; files nothing refers to are removed.
        state.lastSequence = lastSequence
        state.lastTimestamp = clock.last
        // Numbers handed out after the manifest's last edit (a log roll, the
        // SSTable of a flush that never landed) exist only on disk: never hand
        // them out again (LevelDB's MarkFileNumberUsed).
        let highestOnDisk = try Engine.highestFileNumber(in: directory, fileSystem: fileSystem)
        if highestOnDisk >= state.nextFileNumber {
            guard highestOnDisk < UInt64.max - 3 else {
                throw StoreError.corruption("a file number near 2^64 (\(highestOnDisk)) leaves no room for new files",
                                            file: directory, offset: nil)
            }
            state.nextFileNumber = highestOnDisk + 1
        }
        let manifestNumber = state.nextFileNumber
        let logNumber = manifestNumber + 1
        state.nextFileNumber = logNumber + 1
        manifest = try Manifest(directory: directory, fileSystem: fileSystem, number: manifestNumber, state: state)
        versionState = state
        nextFileNumber = Atomic(state.nextFileNumber)
        currentLogNumber = Atomic(logNumber)
        liveLogs = (allSegments.filter { $0 >= state.logNumber } + [logNumber]).sorted()
        publishLiveLogs()
        try Engine.removeUnreferencedFiles(directory: directory, fileSystem: fileSystem, state: state,
                                           keepManifest: manifestNumber, keepLogs: Set(liveLogs))

        // 6. The log to append to, and the threads.
        let wal = try WriteAheadLog(directory: directory, fileSystem: fileSystem, segmentBytes: options.walSegmentBytes,
                                    number: logNumber, preallocates: options.sync == .always && options.preallocateLog)
        pipeline = CommitPipeline(wal: wal, lastSequence: lastSequence, clock: clock, target: self, options: options)
        // The replayed memtables count against the budgets like any others.
        counters.activeMemtableBytes.store(partitions.reduce(0) { $0 + $1.active.approximateBytes }, ordering: .relaxed)
        for partition in partitions where partition.active.approximateBytes >= options.memtableBytes {
            try rotate(partition, logNumber: logNumber)
        }
        startBackgroundThreads()
    }

    /// The largest number of any numbered file (SSTable, log segment,
    /// manifest) in `directory`, or 0.
    private static func highestFileNumber(in directory: String, fileSystem: any FileSystem) throws -> UInt64 {
        var highest: UInt64 = 0
        for name in try fileSystem.contentsOfDirectory(directory) {
            let number = StoreFileNames.anyNumber(name)
            if let number { highest = max(highest, number) }
        }
        return highest
    }

    /// Deletes SSTables not in the manifest, old manifests, log segments already
    /// flushed, and leftover temporary files.
    private static func removeUnreferencedFiles(
        directory: String, fileSystem: any FileSystem, state: VersionState, keepManifest: UInt64, keepLogs: Set<UInt64>
    ) throws {
        let live = state.liveFileNumbers
        var removed = false
        for name in try fileSystem.contentsOfDirectory(directory) {
            let obsolete: Bool
            if let number = StoreFileNames.tableNumber(name) { obsolete = !live.contains(number) }
            else if let number = StoreFileNames.manifestNumber(name) { obsolete = number != keepManifest }
            else if let number = StoreFileNames.logNumber(name) { obsolete = !keepLogs.contains(number) }
            else { obsolete = StoreFileNames.isTemporary(name) }
            if obsolete {
                try fileSystem.remove(joinPath(directory, name))
                removed = true
            }
        }
        if removed { try fileSystem.syncDirectory(directory) }
    }

    /// Checks the declared tables against the `SCHEMA` file, records new ones,
    /// and returns a state for every table and index known to the directory.
    private static func reconcileSchema(
        directory: String, declared: [TableSchema], fileSystem: any FileSystem, firstLogNumber: UInt64
    ) throws -> [TableState] {
        let path = joinPath(directory, StoreFileNames.schema)
        var catalog = SchemaCatalog()
        if fileSystem.exists(path) {
            let file = try fileSystem.open(path, mode: .read)
            defer { try? file.close() }
            catalog = try SchemaCatalog.decode(try file.readAll(), path: path)
        }
        let before = catalog
        var states: [TableState] = []
        var seenIds: [UInt32: String] = [:]

        func register(name: String, partitions: Int, kind: UInt8) throws -> UInt32 {
            guard !name.isEmpty, partitions >= 1, partitions <= 4096 else {
                throw StoreError(.invalidArgument, "table \"\(name)\": a name and 1...4096 partitions are required")
            }
            let id = tableId(for: name)
            if let other = seenIds[id] {
                throw StoreError(.invalidArgument, "tables \"\(other)\" and \"\(name)\" have the same id; rename one")
            }
            seenIds[id] = name
            if let existing = catalog.entries.first(where: { $0.name == name }) {
                guard existing.partitionCount == partitions, existing.kind == kind else {
                    throw StoreError(.schemaMismatch,
                        "\"\(name)\" was created with \(existing.partitionCount) partitions (kind \(existing.kind)); declared with \(partitions) (kind \(kind))",
                        file: path)
                }
            } else {
                catalog.entries.append(.init(id: id, name: name, partitionCount: partitions, kind: kind))
            }
            return id
        }

        for table in declared {
            var indexStates: [IndexState] = []
            for index in table.indexes {
                let name = table.name + "." + index.name
                let id = try register(name: name, partitions: index.partitionCount, kind: index.kind == .covering ? 1 : 2)
                let handle = Table(name: name, id: id, partitionCount: index.partitionCount, indexKind: index.kind, hasIndexes: false)
                let state = TableState(handle: handle, firstLogNumber: firstLogNumber, indexes: [])
                indexStates.append(IndexState(schema: index, table: state))
                states.append(state)
            }
            let id = try register(name: table.name, partitions: table.partitionCount, kind: 0)
            var handle = Table(name: table.name, id: id, partitionCount: table.partitionCount, indexKind: nil, hasIndexes: !indexStates.isEmpty)
            handle.cachesRows = table.cachesRows
            states.append(TableState(handle: handle, firstLogNumber: firstLogNumber, indexes: indexStates))
        }
        // Tables known to the directory but not declared now: kept, so their data stays readable and their log records replay.
        for entry in catalog.entries where seenIds[entry.id] == nil {
            let kind: IndexSchema.Kind? = entry.kind == 1 ? .covering : entry.kind == 2 ? .referencing : nil
            let handle = Table(name: entry.name, id: entry.id, partitionCount: entry.partitionCount, indexKind: kind, hasIndexes: false)
            states.append(TableState(handle: handle, firstLogNumber: firstLogNumber, indexes: []))
        }
        if catalog != before {
            try fileSystem.writeAtomically(catalog.encode(), to: path)
        }
        return states
    }

    // MARK: Close

    func close() throws {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try closeQueuesBlocking()
        pipeline.shutdown()
        stopBackgroundThreads()
        defer { directoryLock.unlock() }
        try pipeline.logForLeader.close()
        try versionLock.withLock { try manifest.close() }
        if let failure = pipeline.failed { throw failure }
        if let error = versionLock.withLock({ backgroundError }) { throw error }
    }

    var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// Copies the live-log facts the leader reads into atomics. REQUIRES: versionLock held (or init).
    func publishLiveLogs() {
        liveLogCount.store(liveLogs.count, ordering: .relaxed)
        oldestLiveLog.store(liveLogs.first ?? 0, ordering: .relaxed)
    }

    /// A new file number.
    func newFileNumber() -> UInt64 { nextFileNumber.add(1, ordering: .relaxed).oldValue }
}

/// Counters the engine keeps (all relaxed atomics; read with ``Store/statistics``).
final class EngineCounters: Sendable {
    let flushes = Atomic<UInt64>(0)
    let flushBytesWritten = Atomic<UInt64>(0)
    let compactions = Atomic<UInt64>(0)
    let compactionBytesRead = Atomic<UInt64>(0)
    let compactionBytesWritten = Atomic<UInt64>(0)
    let stallMicroseconds = Atomic<UInt64>(0)
    let slowdowns = Atomic<UInt64>(0)
    let activeMemtableBytes = Atomic<Int>(0)
    let immutableMemtableBytes = Atomic<Int>(0)
    let maxLevel0Files = Atomic<Int>(0)
}

/// Exponential backoff for work that failed before anything relied on its
/// result (creating a log segment, writing an SSTable): the work is tried
/// again no sooner than ``notBefore``, 10 ms after the first failure,
/// doubling up to 2 s.
struct RetryBackoff {
    /// Monotonic microseconds before which the work is not retried.
    private(set) var notBefore: Int64 = 0
    /// The last failure, while the work keeps failing.
    private(set) var lastError: StoreError?
    private var delay: Int64 = 10_000

    mutating func failed(_ error: StoreError, now: Int64 = CommitClock.monotonicMicroseconds()) {
        lastError = error
        notBefore = now + delay
        delay = min(delay * 2, 2_000_000)
    }

    mutating func succeeded() {
        guard lastError != nil || notBefore != 0 else { return }
        lastError = nil
        notBefore = 0
        delay = 10_000
    }
}
