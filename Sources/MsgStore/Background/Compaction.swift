/// Leveled compaction, per partition (LevelDB's scheme): L0 files are merged
/// into L1 when there are `level0CompactionTrigger` of them; a level past its
/// byte target pushes one file (round robin over its key range) into the next
/// level, merged with the files there that overlap it. Only the newest
/// version of each key is kept; a tombstone is dropped only when no level
/// below the output can hold an older version of *that key* (LevelDB's
/// `IsBaseLevelForKey`): deciding by the inputs' range alone would drop the
/// tombstones of overlapping output-level files whose range reaches further,
/// and bring deleted rows back.
struct CompactionJob {
    let partition: Partition
    let level: Int
    /// Input files of `level`.
    let inputs: [SSTableFile]
    /// Input files of `level + 1` that overlap them.
    let overlapping: [SSTableFile]
    /// The partition's files below the output level (`level + 2` …), as they
    /// are while the job runs (only this job compacts the partition; flushes
    /// add to L0 only).
    let deeper: PartitionVersion

    var outputLevel: Int { level + 1 }

    /// Whether no level below the output level may hold `userKey`: a
    /// tombstone for it can then be dropped.
    func isBaseLevel(forUserKey userKey: UnsafeRawBufferPointer) -> Bool {
        for level in (outputLevel + 1)..<levelCount where deeper.file(level: level, containing: userKey) != nil {
            return false
        }
        return true
    }
}

extension BackgroundJobs {
    /// L0 files that make a partition due for compaction: the option, or 1
    /// while settling (a settled store holds no L0 file: reads merge fewer
    /// sources).
    func level0Trigger(settling: Bool) -> Int { settling ? 1 : options.level0CompactionTrigger }

    /// Whether some partition is due for compaction (score ≥ 1).
    func compactionDue(settling: Bool, _ held: borrowing VersionLock.Held) -> Bool {
        let level0Trigger = level0Trigger(settling: settling)
        return partitions.contains { partition in
            let version = partition.version
            if version.levels[0].count >= level0Trigger { return true }
            return (1..<(levelCount - 1)).contains { version.bytes(level: $0) >= options.targetBytes(level: $0) }
        }
    }

    /// The partition and level most in need of compaction (score ≥ 1), claimed
    /// for compaction.
    func pickCompaction(settling: Bool, _ held: borrowing VersionLock.Held) -> CompactionJob? {
        let level0Trigger = level0Trigger(settling: settling)
        var best: (score: Double, partition: Partition, level: Int)?
        for partition in partitions {
            let version = partition.version
            let level0 = Double(version.levels[0].count) / Double(level0Trigger)
            if level0 >= 1, level0 > (best?.score ?? 0) { best = (level0, partition, 0) }
            for level in 1..<(levelCount - 1) {
                let score = Double(version.bytes(level: level)) / Double(options.targetBytes(level: level))
                if score >= 1, score > (best?.score ?? 0) { best = (score, partition, level) }
            }
        }
        guard let best, best.partition.beginCompaction() else { return nil }
        let version = best.partition.version
        let inputs: [SSTableFile]
        if best.level == 0 {
            inputs = version.levels[0]
        } else {
            // Round robin: the first file after the last one compacted at this level.
            let files = version.levels[best.level]
            let pointer = versions.compactionPointer(best.partition.id, level: best.level, held)
            let next = files.first { compareBytes(Array($0.metadata.largestUserKey), pointer) > 0 } ?? files[0]
            inputs = [next]
            versions.advanceCompactionPointer(best.partition.id, level: best.level, to: Array(next.metadata.largestUserKey), held)
        }
        let smallest = inputs.map(\.metadata.smallestUserKey).min { compareBytes(Array($0), Array($1)) < 0 }!
        let largest = inputs.map(\.metadata.largestUserKey).max { compareBytes(Array($0), Array($1)) < 0 }!
        let overlapping = version.overlapping(level: best.level + 1, smallest: smallest, largest: largest)
        var deeper = PartitionVersion()
        for level in (best.level + 2)..<levelCount { deeper.levels[level] = version.levels[level] }
        return CompactionJob(partition: best.partition, level: best.level, inputs: inputs,
                             overlapping: overlapping, deeper: deeper)
    }

    /// Runs a compaction and installs its result. Runs without the version
    /// lock; takes it to publish.
    func compact(_ job: CompactionJob) throws {
        let start = CommitClock.monotonicMicroseconds()
        // L0 files overlap each other: each is its own child. Compaction reads
        // bypass the block cache (one pass over old data must not evict hot blocks).
        var children: [any InternalIterator] = job.level == 0
            ? job.inputs.map { $0.reader.makeIterator(fillsCache: false) }
            : [LevelIterator(files: job.inputs, fillsCache: false)]
        if !job.overlapping.isEmpty { children.append(LevelIterator(files: job.overlapping, fillsCache: false)) }
        let merged = MergingIterator(children)
        try merged.seekToFirst()

        var tableOptions = SSTableOptions()
        tableOptions.blockSizeBytes = options.blockBytes
        tableOptions.compressionLevel = options.compressionLevel
        tableOptions.bloomBitsPerKey = options.bloomBitsPerKey
        tableOptions.prefixBitsPerKey = options.bloomBitsPerKey
        if options.dictionaryBytes > 0 {
            tableOptions.dictionary = SSTableOptions.DictionaryOptions(
                maxSizeBytes: options.dictionaryBytes, trainingBytes: min(options.targetFileBytes, options.dictionaryBytes * 16))
        }
        let outputs: [SSTableFile]
        do {
            outputs = try writeTables(from: merged, dropsTombstone: job.isBaseLevel(forUserKey:), options: tableOptions,
                                      splitBytes: UInt64(options.targetFileBytes), progress: .compactionProgress)
        } catch let error as StoreError where error.code != .corruption {
            throw TransientFailure(error: error)
        }

        var edit = VersionEdit()
        for file in job.inputs { edit.deletedFiles.append((job.partition.id, job.level, file.metadata.number)) }
        for file in job.overlapping { edit.deletedFiles.append((job.partition.id, job.outputLevel, file.metadata.number)) }
        for file in outputs { edit.addedFiles.append((job.partition.id, job.outputLevel, file.metadata)) }
        let inputBytes = (job.inputs + job.overlapping).reduce(0) { $0 + $1.metadata.size }
        testHooks.run(.compactionBeforeManifestEdit)
        try versions.lock.withLock { held in
            edit.nextFileNumber = versions.upcomingFileNumber
            try versions.record(edit, held)
            testHooks.run(.compactionAfterManifestEdit)
            job.partition.installCompaction(
                removed: Set((job.inputs + job.overlapping).map(\.metadata.number)),
                added: outputs.map { (job.outputLevel, $0) })
            #if DEBUG
            versions.checkInstalled(job.partition.version, of: job.partition.id, held)
            #endif
            for file in job.inputs + job.overlapping { file.markObsolete() }
            counters.compactions.add(1, ordering: .relaxed)
            counters.compactionBytesRead.add(inputBytes, ordering: .relaxed)
            counters.compactionBytesWritten.add(outputs.reduce(0) { $0 + $1.metadata.size }, ordering: .relaxed)
            refreshLevel0Count(held)
        }
        options.eventListener?(.compacted(StoreEvent.CompactionInfo(
            table: tableNames[job.partition.id.tableId] ?? "\(job.partition.id.tableId)", partition: job.partition.id.partition, level: job.level,
            inputFiles: job.inputs.count + job.overlapping.count, bytesRead: inputBytes, outputFiles: outputs.count,
            bytesWritten: outputs.reduce(0) { $0 + $1.metadata.size }, microseconds: CommitClock.monotonicMicroseconds() - start)))
    }
}
