import Synchronization

/// The engine behind ``Store``: it composes the parts, each owning its state
/// behind its own lock, and holds no mutable state itself.
///
/// - ``TableCatalog``: tables, indexes and partitions (fixed at open); each
///   ``Partition`` owns its memtables and SSTables behind its lock.
/// - ``VersionSet`` (Versions/): manifest, version state, file numbers,
///   compaction pointers — under the ``VersionLock``.
/// - ``LogManager`` (WritePath/): the open log segment, rolls, live segments.
/// - ``MemTableSet`` (Memory/): applying batches, rotation, the memory budget.
/// - ``BackgroundScheduler`` and ``BackgroundJobs`` (Background/): the flush
///   and compaction threads and their status — under the ``VersionLock``.
/// - ``ReadPath`` (ReadPath/) and ``IndexMaintenance`` (WritePath/).
/// - ``CommitPipeline`` (WritePath/): group commit; it calls the memtable
///   set, index maintenance and log manager it is given, never the engine.
/// - ``PublishedSequence``: the visible snapshot the pipeline publishes.
/// - ``StoreLifecycle``: closed, and the open durable queues.
///
/// Dependencies point one way: pipeline → memtables → scheduler → jobs →
/// versions/log; reads and index maintenance → published sequence. Only
/// the scheduler's failure callback reaches back to the pipeline (weakly).
///
/// The lock order is written down at ``VersionLock``.
final class Engine: Sendable {
    /// The data directory.
    let directory: String
    /// The file system every file goes through.
    let fileSystem: any FileSystem
    /// The options the store was opened with.
    let options: StoreOptions
    /// The `LOCK` file held while the store is open.
    private let directoryLock: any FileLock
    /// Tables, indexes and their partitions (fixed at open).
    let catalog: TableCatalog
    /// Decoded SSTable blocks, shared by every file.
    let blockCache: BlockCache
    /// The SSTables' descriptors, at most ``StoreOptions/maxOpenTableFiles`` open.
    let tableFiles: TableFileCache
    /// Rows of tables that cache rows.
    let rowCache: RowCache
    /// Counters and gauges for ``Store/statistics``.
    let counters: EngineCounters
    /// Points where tests intervene (disarmed in production; see ``TestHooks``).
    let testHooks: TestHooks
    /// What replaying the log found at open (torn tails cut, records replayed).
    let recovery: WriteAheadLog.RecoveryReport
    /// Notes from loading the manifest at open (for the operator).
    let manifestNotes: [String]

    // The parts:
    /// Manifest, version state, file numbers, compaction pointers.
    let versions: VersionSet
    /// The open log segment, rolls, live segments.
    let log: LogManager
    /// The last visible sequence (readers' snapshot).
    let published: PublishedSequence
    /// Point lookups and partition iterators.
    let reads: ReadPath
    /// Applying batches, rotation, the memory budget.
    let memtables: MemTableSet
    /// The flush and compaction threads and their status.
    let scheduler: BackgroundScheduler
    /// Group commit.
    let pipeline: CommitPipeline
    /// Closed, and the open durable queues.
    let lifecycle: StoreLifecycle

    // MARK: Open

    /// Opens (creating if needed) the store in `directory`: takes its lock,
    /// recovers its manifest and log, and starts its threads.
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
        let blockCache = BlockCache(capacityBytes: options.blockCacheBytes)
        self.blockCache = blockCache
        let tableFiles = TableFileCache(capacity: options.maxOpenTableFiles)
        self.tableFiles = tableFiles
        let rowCache = RowCache(capacityBytes: options.rowCacheBytes)
        self.rowCache = rowCache
        let counters = EngineCounters()
        self.counters = counters
        let testHooks = TestHooks()
        self.testHooks = testHooks
        lifecycle = StoreLifecycle()

        testHooks.armFromEnvironment()

        // 1. The manifest: live SSTables and counters.
        let loaded = try Manifest.load(directory: directory, fileSystem: fileSystem)
        var state = loaded.state
        manifestNotes = loaded.notes

        // 2. The catalog of tables.
        let allSegments = try WriteAheadLog.segments(in: directory, fileSystem: fileSystem)
        let segments = allSegments.filter { $0 >= state.logNumber }
        let firstLog = segments.first ?? state.nextFileNumber
        let catalog = try TableCatalog.open(directory: directory, declared: tables, fileSystem: fileSystem, firstLogNumber: firstLog)
        self.catalog = catalog

        // 3. Open every live SSTable.
        for (id, levels) in state.files {
            guard let partition = catalog.partitionsById[id] else {
                throw StoreError.corruption("the manifest lists files of unknown table id \(id.tableId) partition \(id.partition)",
                                            file: joinPath(directory, StoreFileNames.manifest(loaded.manifestNumber ?? 0)), offset: nil)
            }
            var version = PartitionVersion()
            for (level, files) in levels.enumerated() {
                version.levels[level] = try files.map {
                    try SSTableFile(metadata: $0, directory: directory, fileSystem: fileSystem, cache: blockCache, tableFiles: tableFiles)
                }
            }
            partition.installRecovered(version)
        }

        // 4. Replay the log into the memtables, skipping what is already in SSTables.
        var lastSequence = state.lastSequence
        let clock = CommitClock(last: state.lastTimestamp)
        let mode: LogReader.Mode = options.recovery == .strict ? .strict : .pointInTime
        let byId = catalog.tablesById
        let flushed = state.flushed
        recovery = try WriteAheadLog.replay(directory: directory, numbers: segments, fileSystem: fileSystem, mode: mode) { record, file, offset in
            guard let header = BatchDecoder.header(record) else {
                throw StoreError.corruption("log record too short for a batch header", file: file, offset: offset)
            }
            let (last, overflow) = header.baseSequence.addingReportingOverflow(UInt64(max(header.count, 1)) - 1)
            guard !overflow, header.baseSequence > 0, last < UInt64.max - 1 << 32 else {
                throw StoreError.corruption("batch sequence \(header.baseSequence) (+\(header.count)) is out of range", file: file, offset: offset)
            }
            try MemTableSet.apply(record, tables: byId, skipping: flushed, file: file, offset: offset)
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
        let versionLock = VersionLock()
        let versions = try VersionSet(lock: versionLock, directory: directory, fileSystem: fileSystem, options: options,
                                      testHooks: testHooks, manifestNumber: manifestNumber, state: state)
        self.versions = versions
        let olderLogs = segments.sorted()
        try Engine.removeUnreferencedFiles(directory: directory, fileSystem: fileSystem, state: state,
                                           keepManifest: manifestNumber, keepLogs: Set(olderLogs + [logNumber]))

        // 6. The log to append to, the parts, and the threads.
        let wal = try WriteAheadLog(directory: directory, fileSystem: fileSystem, segmentBytes: options.walSegmentBytes,
                                    number: logNumber, preallocates: options.sync == .always && options.preallocateLog)
        let log = LogManager(wal: wal, olderLiveSegments: olderLogs, versions: versions, testHooks: testHooks)
        self.log = log
        let published = PublishedSequence(sequence: lastSequence, timestamp: clock.last)
        self.published = published
        let reads = ReadPath(rowCache: rowCache, published: published, testHooks: testHooks)
        self.reads = reads
        let jobs = BackgroundJobs(directory: directory, fileSystem: fileSystem, options: options, partitions: catalog.partitions,
                                  tableNames: catalog.tablesById.mapValues(\.handle.name),
                                  versions: versions, log: log, published: published, counters: counters,
                                  blockCache: blockCache, tableFiles: tableFiles, testHooks: testHooks)
        let scheduler = BackgroundScheduler(lock: versionLock, jobs: jobs)
        self.scheduler = scheduler
        let memtables = MemTableSet(catalog: catalog, log: log, scheduler: scheduler, counters: counters,
                                    rowCache: rowCache, options: options)
        self.memtables = memtables
        let pipeline = CommitPipeline(log: log, memtables: memtables, indexes: IndexMaintenance(tablesById: catalog.tablesById, reads: reads),
                                      published: published, lastSequence: lastSequence, clock: clock, options: options)
        self.pipeline = pipeline
        for partition in catalog.partitions where partition.active.approximateBytes >= options.memtableBytes {
            try memtables.rotate(partition, logNumber: logNumber)
        }
        // A background failure refuses later writes. Weak: the pipeline
        // (through the memtable set) holds the scheduler.
        scheduler.start { [weak pipeline] error in pipeline?.fail(error) }
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

    // MARK: Close

    /// Closes the queues, stops the background threads (a running flush or
    /// compaction is abandoned, see ``BackgroundJobs``), finishes queued
    /// writes (none waits for background work any more), closes the
    /// SSTables, the log and the manifest, and releases the directory.
    /// Throws the error that made the store read-only, if any. Idempotent.
    func close() throws {
        guard lifecycle.markClosed() else { return }
        try closeQueuesBlocking()
        // The background threads first: a running flush or compaction is
        // abandoned, and writers stalled on it (memory budget, L0 stop
        // trigger) go on at once instead of waiting for it to finish.
        scheduler.stop()
        pipeline.shutdown()
        tableFiles.close()  // no SSTable stays open on a closed store (reads now throw `.closed`)
        defer { directoryLock.unlock() }
        try log.close()
        try versions.close()
        if let failure = pipeline.failed { throw failure }
        if let error = scheduler.failure { throw error }
    }

    /// Whether ``close()`` was called.
    var isClosed: Bool { lifecycle.isClosed }

    // MARK: Maintenance

    /// Flushes every memtable, compacts every L0 file into L1, and waits until
    /// no flush or compaction is due.
    func settle() throws -> String {
        try pipeline.withExclusiveLeadership {
            // A fresh log segment, so that the old ones hold only flushed data and can go.
            do {
                try log.roll()
            } catch let error as StoreError where error.code != .unavailable {
                pipeline.fail(error)
                throw error
            }
            try memtables.rotateAll()
        }
        try scheduler.settle()
        let statistics = self.statistics()
        let files = statistics.levelFileCounts.map(String.init).joined(separator: ",")
        return "memtables flushed; compaction idle; files/level=\(files); sst_bytes=\(statistics.sstBytes); "
            + "write_amp=\(String(describing: (statistics.writeAmplification * 100).rounded() / 100)); "
            + "flushes=\(statistics.flushes) compactions=\(statistics.compactions)"
    }

    /// Makes every non-empty memtable immutable and waits until all are
    /// flushed to L0 SSTables (compactions they make due run on their own).
    func flushMemtables() throws {
        try pipeline.withExclusiveLeadership { try memtables.rotateAll() }
        try scheduler.waitForFlushes()
    }
}
