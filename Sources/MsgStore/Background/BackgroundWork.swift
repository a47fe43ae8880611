/// Background work: one flush thread (immutable memtables → L0 SSTables) and
/// one compaction thread (leveled, per partition), both the engine's own OS
/// threads.
///
/// Failures are classified: writing an SSTable (open, write, sync) fails
/// before anything relies on the file, so the job is retried with backoff
/// (``RetryBackoff``; a full disk may free up). A failed manifest write
/// leaves the manifest's state unknown: the store becomes read-only (writes
/// answer `.unavailable`, reads go on) until it is reopened, which recovers
/// everything acknowledged from the log.
extension Engine {
    /// A job failed before anything relied on its output: retry later.
    struct TransientFailure: Error {
        let error: StoreError
    }

    func startBackgroundThreads() {
        versionLock.withLock { runningThreads = 2 }
        startThread(name: "msgstore-flush") { [self] in backgroundLoop(flushing: true) }
        startThread(name: "msgstore-compact") { [self] in backgroundLoop(flushing: false) }
    }

    /// Lets running jobs finish, then stops both threads.
    func stopBackgroundThreads() {
        versionLock.withLock {
            stopping = true
            backgroundWakeup.broadcast()
            progressWakeup.broadcast()
            while runningThreads > 0 { progressWakeup.wait() }
        }
    }

    private func backgroundLoop(flushing: Bool) {
        versionLock.lock()
        while !stopping {
            if backgroundError != nil {
                backgroundWakeup.wait()
                continue
            }
            let retryAt = flushing ? flushRetry.notBefore : compactionRetry.notBefore
            let now = CommitClock.monotonicMicroseconds()
            if retryAt > now {
                backgroundWakeup.wait(seconds: Double(retryAt - now) / 1e6)
                continue
            }
            if flushing, let (partition, memtable) = nextFlush() {
                runningJobs += 1
                versionLock.unlock()
                let result = Result { try flush(memtable, of: partition) }
                versionLock.lock()
                finishJob(result, flushing: true)
            } else if !flushing, let job = pickCompaction() {
                runningJobs += 1
                versionLock.unlock()
                let result = Result { try compact(job) }
                job.partition.endCompaction()
                versionLock.lock()
                finishJob(result, flushing: false)
            } else {
                backgroundWakeup.wait()
            }
        }
        runningThreads -= 1
        progressWakeup.broadcast()
        versionLock.unlock()
    }

    /// REQUIRES: versionLock held.
    private func finishJob(_ result: Result<Void, any Error>, flushing: Bool) {
        runningJobs -= 1
        switch result {
        case .success:
            if flushing { flushRetry.succeeded() } else { compactionRetry.succeeded() }
        case .failure(let failure as TransientFailure):
            if flushing { flushRetry.failed(failure.error) } else { compactionRetry.failed(failure.error) }
        case .failure(let error):
            if backgroundError == nil {
                let error = error as? StoreError ?? StoreError(.io, "background work failed: \(error)")
                backgroundError = error
                pipeline.fail(error)
            }
        }
        backgroundWakeup.broadcast()
        progressWakeup.broadcast()
    }

    /// The partition whose oldest immutable memtable is the oldest of all.
    private func nextFlush() -> (Partition, MemTable)? {
        var best: (Partition, MemTable)?
        for partition in partitions {
            guard let memtable = partition.oldestImmutable else { continue }
            if best == nil || memtable.firstLogNumber < best!.1.firstLogNumber { best = (partition, memtable) }
        }
        return best
    }

    // MARK: Flush

    /// Writes an immutable memtable as an L0 SSTable, records it in the
    /// manifest, swaps it in, and deletes log segments no longer needed.
    func flush(_ memtable: MemTable, of partition: Partition) throws {
        var tableOptions = SSTableOptions()
        tableOptions.blockSizeBytes = options.blockBytes
        tableOptions.compressionLevel = 1
        tableOptions.bloomBitsPerKey = options.bloomBitsPerKey
        tableOptions.prefixBitsPerKey = options.bloomBitsPerKey
        let iterator = memtable.makeIterator()
        iterator.seekToFirst()
        let output: [SSTableFile]
        do {
            output = try writeTables(from: iterator, dropsTombstone: nil, options: tableOptions, splitBytes: .max)
        } catch {
            throw TransientFailure(error: error as? StoreError ?? StoreError(.io, "flush failed: \(error)"))
        }
        var edit = VersionEdit()
        edit.flushed[partition.id] = memtable.largestSequence
        for file in output { edit.addedFiles.append((partition.id, 0, file.metadata)) }
        testHooks.run(.flushBeforeManifestEdit)
        try versionLock.withLock {
            edit.nextFileNumber = nextFileNumber.load(ordering: .relaxed)
            edit.lastSequence = pipeline.published.load(ordering: .acquiring)
            edit.lastTimestamp = pipeline.publishedTimestamp.load(ordering: .relaxed)
            try recordEdit(edit)
            testHooks.run(.flushAfterManifestEdit)
            partition.installFlush(of: memtable, file: output.first)
            counters.immutableMemtableBytes.add(-memtable.approximateBytes, ordering: .relaxed)
            counters.flushes.add(1, ordering: .relaxed)
            counters.flushBytesWritten.add(output.reduce(0) { $0 + $1.metadata.size }, ordering: .relaxed)
            refreshLevel0Count()
            try deleteObsoleteLogs()
        }
    }

    /// Deletes log segments older than every unflushed memtable. REQUIRES: versionLock held.
    private func deleteObsoleteLogs() throws {
        var needed = currentLogNumber.load(ordering: .acquiring)
        for partition in partitions {
            if let oldest = partition.oldestLogNeeded { needed = min(needed, oldest) }
        }
        let obsolete = liveLogs.filter { $0 < needed }
        guard !obsolete.isEmpty else { return }
        var edit = VersionEdit()
        edit.logNumber = needed
        try recordEdit(edit)
        for number in obsolete {
            try? fileSystem.remove(joinPath(directory, StoreFileNames.log(number)))
        }
        liveLogs.removeAll { $0 < needed }
        // Best effort: a removal that does not survive a crash is redone at open.
        try? fileSystem.syncDirectory(directory)
    }

    /// REQUIRES: versionLock held.
    func refreshLevel0Count() {
        counters.maxLevel0Files.store(partitions.map { $0.version.levels[0].count }.max() ?? 0, ordering: .relaxed)
    }

    // MARK: Writing SSTables

    /// Writes the entries of `iterator` (positioned at its first entry),
    /// newest version of each user key only, into one or more SSTables cut at
    /// `splitBytes`; a tombstone is dropped when `dropsTombstone` says so for
    /// its user key (nil: every tombstone is kept). Returns the opened files
    /// (not yet in any version).
    func writeTables(
        from iterator: any InternalIterator, dropsTombstone: ((UnsafeRawBufferPointer) -> Bool)?,
        options tableOptions: SSTableOptions, splitBytes: UInt64
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
            outputs.append(try SSTableFile(metadata: fileMetadata, directory: directory, fileSystem: fileSystem, cache: blockCache))
        }

        do {
            while iterator.isValid {
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
                            number = newFileNumber()
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
