import Synchronization

/// The background jobs: flushing an immutable memtable to an L0 SSTable,
/// compacting a partition's levels (Compaction.swift), and writing SSTables
/// for both. ``BackgroundScheduler`` decides when they run, on its threads.
///
/// Stateless: what a job changes is owned by the parts it is given — the
/// ``VersionSet`` (manifest edits, compaction pointers, under the
/// ``VersionLock``), the ``Partition``s (installing files, under their own
/// locks), the ``LogManager`` (forgetting obsolete segments), the counters.
///
/// Failures are classified: writing an SSTable (open, write, sync) fails
/// before anything relies on the file, so the job is retried with backoff
/// (it throws ``TransientFailure``; a full disk may free up). A failed
/// manifest write leaves the manifest's state unknown: the store becomes
/// read-only (writes answer `.unavailable`, reads go on) until it is
/// reopened, which recovers everything acknowledged from the log.
///
/// **Stopping.** A flush or compaction checks ``isStopRequested`` between
/// batches of entries (every ``stopCheckInterval`` input entries, a few
/// blocks' worth) while it writes SSTables. Once ``requestStop()`` was called
/// (by `close`), the job abandons its work and throws ``Cancelled``: the
/// outputs written so far are deleted (an output a crash leaves behind is
/// not in the manifest, and open deletes it), no manifest edit is made, the
/// inputs stay as they were. Nothing is lost: a compaction's inputs keep
/// their rows, and a flush's memtable is still in the log segments, which
/// are deleted only after a flush's manifest edit — the next open replays them.
final class BackgroundJobs: Sendable {
    /// A job failed before anything relied on its output: retry later.
    struct TransientFailure: Error {
        let error: StoreError
    }

    /// A job abandoned because the scheduler is stopping (see "Stopping" above).
    struct Cancelled: Error {}

    /// Input entries between two checks of the stop flag.
    static let stopCheckInterval = 64

    // What the jobs work with (all immutable references; see the type's documentation).
    /// The data directory SSTables are written to.
    let directory: String
    /// The file system SSTables are written through.
    let fileSystem: any FileSystem
    /// Block size, compression, bloom bits, level targets, triggers.
    let options: StoreOptions
    /// Every partition of the catalog.
    let partitions: [Partition]
    /// Table and index names by id, for events.
    let tableNames: [UInt32: String]
    /// Manifest edits, file numbers, compaction pointers.
    let versions: VersionSet
    /// Live log segments (forgotten once flushed).
    let log: LogManager
    /// The sequence a flush records as the last one.
    let published: PublishedSequence
    /// Flush and compaction counters, memtable and L0 gauges.
    let counters: EngineCounters
    /// The cache new SSTables read through.
    let blockCache: BlockCache
    /// The descriptor cache new SSTables join.
    let tableFiles: TableFileCache
    /// Crash points of the flush and compaction paths.
    let testHooks: TestHooks
    /// Set by ``requestStop()``: running jobs abandon their work.
    private let stopRequested = Atomic<Bool>(false)

    /// Jobs over `partitions`, publishing through `versions`.
    init(directory: String, fileSystem: any FileSystem, options: StoreOptions, partitions: [Partition],
         tableNames: [UInt32: String] = [:], versions: VersionSet,
         log: LogManager, published: PublishedSequence, counters: EngineCounters, blockCache: BlockCache,
         tableFiles: TableFileCache, testHooks: TestHooks) {
        self.directory = directory
        self.fileSystem = fileSystem
        self.options = options
        self.partitions = partitions
        self.tableNames = tableNames
        self.versions = versions
        self.log = log
        self.published = published
        self.counters = counters
        self.blockCache = blockCache
        self.tableFiles = tableFiles
        self.testHooks = testHooks
    }

    // MARK: Stopping

    /// Makes running and later jobs abandon their work at their next check
    /// (see "Stopping" in the type's documentation). For `close`: irrevocable.
    func requestStop() { stopRequested.store(true, ordering: .relaxed) }

    /// Whether ``requestStop()`` was called (one relaxed load).
    var isStopRequested: Bool { stopRequested.load(ordering: .relaxed) }

    // MARK: Flush

    /// The partition whose oldest immutable memtable is the oldest of all.
    func nextFlush() -> (Partition, MemTable)? {
        var best: (Partition, MemTable)?
        for partition in partitions {
            guard let memtable = partition.oldestImmutable else { continue }
            if best == nil || memtable.firstLogNumber < best!.1.firstLogNumber { best = (partition, memtable) }
        }
        return best
    }

    /// Whether some partition holds an immutable memtable (a flush is pending).
    func flushPending() -> Bool { partitions.contains { $0.oldestImmutable != nil } }

    /// Writes an immutable memtable as an L0 SSTable, records it in the
    /// manifest, swaps it in, and deletes log segments no longer needed.
    /// Runs without the version lock; takes it to publish.
    func flush(_ memtable: MemTable, of partition: Partition) throws {
        let start = CommitClock.monotonicMicroseconds()
        var tableOptions = SSTableOptions()
        tableOptions.blockSizeBytes = options.blockBytes
        tableOptions.compressionLevel = 1
        tableOptions.bloomBitsPerKey = options.bloomBitsPerKey
        tableOptions.prefixBitsPerKey = options.bloomBitsPerKey
        let iterator = memtable.makeIterator()
        iterator.seekToFirst()
        let output: [SSTableFile]
        do {
            output = try writeTables(from: iterator, dropsTombstone: nil, options: tableOptions, splitBytes: .max,
                                     progress: .flushProgress)
        } catch let cancelled as Cancelled {
            throw cancelled
        } catch {
            throw TransientFailure(error: error as? StoreError ?? StoreError(.io, "flush failed: \(error)"))
        }
        var edit = VersionEdit()
        edit.flushed[partition.id] = memtable.largestSequence
        for file in output { edit.addedFiles.append((partition.id, 0, file.metadata)) }
        testHooks.run(.flushBeforeManifestEdit)
        try versions.lock.withLock { held in
            edit.nextFileNumber = versions.upcomingFileNumber
            edit.lastSequence = published.last
            edit.lastTimestamp = published.lastTimestamp
            try versions.record(edit, held)
            testHooks.run(.flushAfterManifestEdit)
            partition.installFlush(of: memtable, file: output.first)
            #if DEBUG
            versions.checkInstalled(partition.version, of: partition.id, held)
            #endif
            counters.immutableMemtableBytes.add(-memtable.approximateBytes, ordering: .relaxed)
            counters.flushes.add(1, ordering: .relaxed)
            counters.flushBytesWritten.add(output.reduce(0) { $0 + $1.metadata.size }, ordering: .relaxed)
            refreshLevel0Count(held)
            try deleteObsoleteLogs(held)
        }
        options.eventListener?(.flushed(StoreEvent.FlushInfo(
            table: tableNames[partition.id.tableId] ?? "\(partition.id.tableId)", partition: partition.id.partition, memtableBytes: memtable.approximateBytes,
            bytesWritten: output.reduce(0) { $0 + $1.metadata.size }, files: output.count,
            microseconds: CommitClock.monotonicMicroseconds() - start)))
    }

    /// Deletes log segments older than every unflushed memtable.
    private func deleteObsoleteLogs(_ held: borrowing VersionLock.Held) throws {
        var needed = log.currentNumber
        for partition in partitions {
            if let oldest = partition.oldestLogNeeded { needed = min(needed, oldest) }
        }
        let obsolete = log.liveSegments(below: needed)
        guard !obsolete.isEmpty else { return }
        var edit = VersionEdit()
        edit.logNumber = needed
        try versions.record(edit, held)
        for number in obsolete {
            try? fileSystem.remove(joinPath(directory, StoreFileNames.log(number)))
        }
        log.forgetSegments(below: needed)
        // Best effort: a removal that does not survive a crash is redone at open.
        try? fileSystem.syncDirectory(directory)
    }

    /// Publishes the largest L0 file count of any partition (write stalls
    /// read it). Under the lock, so that two jobs do not publish out of order.
    func refreshLevel0Count(_ held: borrowing VersionLock.Held) {
        counters.maxLevel0Files.store(partitions.map { $0.version.levels[0].count }.max() ?? 0, ordering: .relaxed)
    }

    // MARK: Writing SSTables

    /// Writes the entries of `iterator` (positioned at its first entry),
    /// newest version of each user key only, into one or more SSTables cut at
    /// `splitBytes`; a tombstone is dropped when `dropsTombstone` says so for
    /// its user key (nil: every tombstone is kept). Returns the opened files
    /// (not yet in any version).
    ///
    /// Every ``stopCheckInterval`` input entries it runs the test hook
    /// `progress` and throws ``Cancelled`` if a stop was requested; on any
    /// error the files written so far are deleted.
    func writeTables(
        from iterator: any InternalIterator, dropsTombstone: ((UnsafeRawBufferPointer) -> Bool)?,
        options tableOptions: SSTableOptions, splitBytes: UInt64, progress: TestHooks.Point
    ) throws -> [SSTableFile] {
        var outputs: [SSTableFile] = []
        var builder: SSTableBuilder?
        var file: (any StorageFile)?
        var number: UInt64 = 0
        var lastUserKey: [UInt8] = []
        var hasLast = false

        func finishCurrent() throws {
            guard let current = builder, let handle = file else { return }
            let metadata = try current.finish()
            try handle.close()
            builder = nil
            file = nil
            let fileMetadata = FileMetadata(
                number: number, size: metadata.fileSize, entries: metadata.entryCount,
                smallestSequence: metadata.smallestSequence, largestSequence: metadata.largestSequence,
                smallest: metadata.smallestKey, largest: metadata.largestKey)
            outputs.append(try SSTableFile(metadata: fileMetadata, directory: directory, fileSystem: fileSystem, cache: blockCache,
                                           tableFiles: tableFiles))
        }

        var untilCheck = Self.stopCheckInterval
        do {
            while iterator.isValid {
                untilCheck -= 1
                if untilCheck == 0 {
                    untilCheck = Self.stopCheckInterval
                    if testHooks.isArmed { testHooks.run(progress) }
                    if isStopRequested { throw Cancelled() }
                }
                let key = iterator.key
                let userKey = InternalKey.userKey(key)
                let isShadowed = hasLast && lastUserKey.withUnsafeBytes { compareBytes($0, userKey) } == 0
                if !isShadowed {
                    lastUserKey.removeAll(keepingCapacity: true)
                    lastUserKey.append(contentsOf: userKey)
                    hasLast = true
                    let isTombstone = InternalKey.kind(key) == .deletion
                    if !(isTombstone && dropsTombstone?(userKey) == true) {
                        if let current = builder, current.estimatedFileSize >= splitBytes { try finishCurrent() }
                        if builder == nil {
                            number = versions.newFileNumber()
                            let handle = try fileSystem.open(joinPath(directory, StoreFileNames.table(number)), mode: .createTruncate)
                            file = handle
                            builder = SSTableBuilder(file: handle, options: tableOptions)
                        }
                        try builder!.add(key, iterator.value)
                    }
                }
                try iterator.next()
            }
            try finishCurrent()
            try fileSystem.syncDirectory(directory)
        } catch {
            builder?.abandon()
            try? file?.close()
            if builder != nil { try? fileSystem.remove(joinPath(directory, StoreFileNames.table(number))) }
            for output in outputs { output.markObsolete() }
            throw error
        }
        return outputs
    }
}
