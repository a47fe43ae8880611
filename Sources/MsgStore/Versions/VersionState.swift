/// Levels per partition: L0 (overlapping files, newest first) and L1…L6
/// (each sorted by key, files not overlapping).
let levelCount = 7

/// Everything the manifest describes, folded from its edits: the live files
/// of every partition by level, and the store's counters.
struct VersionState: Equatable {
    var nextFileNumber: UInt64 = 2
    var lastSequence: UInt64 = 0
    var lastTimestamp: Int64 = 0
    /// Log segments numbered below this hold nothing that is not in SSTables.
    var logNumber: UInt64 = 0
    /// Per partition: every op with a sequence ≤ this is in its SSTables.
    var flushed: [PartitionID: UInt64] = [:]
    /// Per partition: files by level. L0 newest first; other levels by smallest key.
    var files: [PartitionID: [[FileMetadata]]] = [:]

    /// Applies an edit. Throws (as corruption of `path`) if it deletes a file that is not live.
    mutating func apply(_ edit: VersionEdit, path: String) throws {
        if let value = edit.nextFileNumber { nextFileNumber = max(nextFileNumber, value) }
        if let value = edit.lastSequence { lastSequence = max(lastSequence, value) }
        guard nextFileNumber < UInt64.max - 1 << 20, lastSequence < UInt64.max - 1 << 32 else {
            throw StoreError.corruption("manifest counters too close to 2^64 (next file \(nextFileNumber), last sequence \(lastSequence))",
                                        file: path, offset: nil)
        }
        if let value = edit.lastTimestamp { lastTimestamp = max(lastTimestamp, value) }
        if let value = edit.logNumber { logNumber = max(logNumber, value) }
        for (partition, sequence) in edit.flushed {
            guard sequence < UInt64.max - 1 << 32 else {
                throw StoreError.corruption("manifest says sequence \(sequence) is flushed, too close to 2^64", file: path, offset: nil)
            }
            flushed[partition] = max(flushed[partition] ?? 0, sequence)
        }
        for deleted in edit.deletedFiles {
            guard deleted.level < levelCount,
                  let index = files[deleted.partition]?[deleted.level].firstIndex(where: { $0.number == deleted.number })
            else {
                throw StoreError.corruption("manifest deletes file \(deleted.number) which is not live at level \(deleted.level)", file: path, offset: nil)
            }
            files[deleted.partition]![deleted.level].remove(at: index)
        }
        for added in edit.addedFiles {
            guard added.file.number < UInt64.max - 1 << 20 else {
                throw StoreError.corruption("manifest adds file number \(added.file.number), too close to 2^64", file: path, offset: nil)
            }
            guard added.level < levelCount else {
                throw StoreError.corruption("manifest adds file \(added.file.number) at level \(added.level)", file: path, offset: nil)
            }
            var levels = files[added.partition] ?? Array(repeating: [], count: levelCount)
            if added.level == 0 {
                levels[0].insert(added.file, at: 0)
                levels[0].sort { $0.largestSequence > $1.largestSequence }
            } else {
                levels[added.level].append(added.file)
                levels[added.level].sort { compareBytes(Array($0.smallestUserKey), Array($1.smallestUserKey)) < 0 }
            }
            files[added.partition] = levels
            nextFileNumber = max(nextFileNumber, added.file.number + 1)
        }
    }

    /// One edit that recreates this state from nothing (the first record of a new manifest).
    func snapshotEdit() -> VersionEdit {
        var edit = VersionEdit()
        edit.nextFileNumber = nextFileNumber
        edit.lastSequence = lastSequence
        edit.lastTimestamp = lastTimestamp
        edit.logNumber = logNumber
        edit.flushed = flushed
        for (partition, levels) in files.sorted(by: { $0.key < $1.key }) {
            for (level, files) in levels.enumerated() {
                // L0 is kept newest first; add oldest first so that insertion order rebuilds it.
                for file in (level == 0 ? files.reversed() : files) { edit.addedFiles.append((partition, level, file)) }
            }
        }
        return edit
    }

    /// Numbers of every live SSTable.
    var liveFileNumbers: Set<UInt64> {
        Set(files.values.flatMap { $0.flatMap { $0.map(\.number) } })
    }
}

/// Space amplification of an LSM split into partitions: live SSTable bytes
/// divided by the bytes of each partition's deepest non-empty level (what the
/// data would take fully compacted, if the deepest level holds it all).
func lsmSpaceAmplification(levelBytesPerPartition: [[UInt64]]) -> Double {
    var total: UInt64 = 0, deepest: UInt64 = 0
    for levels in levelBytesPerPartition {
        total += levels.reduce(0, +)
        deepest += levels.last { $0 > 0 } ?? 0
    }
    return deepest == 0 ? 0 : Double(total) / Double(deepest)
}
