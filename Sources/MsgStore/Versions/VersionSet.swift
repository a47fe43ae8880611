import Synchronization

/// The version set: the manifest, the ``VersionState`` its edits fold into,
/// the counter of file numbers, and the compaction pointers.
///
/// The manifest, the state and the pointers are guarded by the engine's
/// ``VersionLock`` (every method touching them takes its ``VersionLock/Held``).
/// The file number counter is an atomic: numbers are handed out without the
/// lock, by the commit leader rolling the log and by background jobs
/// creating SSTables.
///
/// Invariants (``invariantViolations(of:nextFileNumber:manifestNumber:partitions:)``;
/// checked after every edit in debug builds):
/// - L0 files are newest first (largest sequence non-increasing);
/// - files of levels ≥ 1 are sorted by smallest user key and disjoint;
/// - every live file number, the manifest's number, the log number and the
///   state's own next file number are below (≤ for the last) the counter.
///
/// And across parts (``checkInstalled(_:of:_:)``, debug builds, after a flush
/// or compaction installs its result): the partition reads exactly the files
/// the version state lists for it.
final class VersionSet: @unchecked Sendable {
    /// The lock guarding this part's state (and ``BackgroundScheduler``'s).
    let lock: VersionLock
    private let directory: String
    private let fileSystem: any FileSystem
    private let maxManifestBytes: Int
    private let testHooks: TestHooks

    // Guarded by `lock`:
    private var manifest: Manifest
    private var state: VersionState
    /// Per partition and level: the largest user key of the last file
    /// compacted (compaction picks files round robin).
    private var compactionPointers: [PartitionID: [[UInt8]]] = [:]

    /// The next number for a new file (log segment, SSTable, manifest).
    private let nextFileNumber: Atomic<UInt64>

    /// Starts the version set of an opened store: writes manifest
    /// `manifestNumber` holding `state` (synced, and made `CURRENT`).
    /// `state.nextFileNumber` must already be past `manifestNumber` and every
    /// number handed out before.
    init(lock: VersionLock, directory: String, fileSystem: any FileSystem, options: StoreOptions, testHooks: TestHooks,
         manifestNumber: UInt64, state: VersionState) throws {
        self.lock = lock
        self.directory = directory
        self.fileSystem = fileSystem
        self.maxManifestBytes = options.maxManifestBytes
        self.testHooks = testHooks
        manifest = try Manifest(directory: directory, fileSystem: fileSystem, number: manifestNumber, state: state)
        self.state = state
        nextFileNumber = Atomic(state.nextFileNumber)
    }

    // MARK: File numbers

    /// A new file number (no lock).
    func newFileNumber() -> UInt64 { nextFileNumber.add(1, ordering: .relaxed).oldValue }

    /// The number the next ``newFileNumber()`` would return: what an edit
    /// records as `nextFileNumber`.
    var upcomingFileNumber: UInt64 { nextFileNumber.load(ordering: .relaxed) }

    // MARK: Edits

    /// Appends `edit` to the manifest (synced), folds it into the version
    /// state, and — past `maxManifestBytes` — starts a new manifest holding a
    /// snapshot of the state, switching `CURRENT` to it and removing the old
    /// one.
    func record(_ edit: VersionEdit, _ held: borrowing VersionLock.Held) throws {
        try manifest.append(edit)
        try state.apply(edit, path: joinPath(directory, StoreFileNames.manifest(manifest.number)))
        #if DEBUG
        // The partitions this edit touched: a recovered state is whatever the
        // disk held (the verifier, not an assertion, reports its defects).
        let touched = Set(edit.addedFiles.map(\.partition) + edit.deletedFiles.map(\.partition))
        checkInvariants(partitions: touched, held)
        #endif
        guard manifest.size > Int64(maxManifestBytes) else { return }
        // Rewrite as a snapshot. The edit above is already durable in the old
        // manifest: a failure before CURRENT changes keeps the old one in use
        // (tried again at the next edit); a failure while CURRENT changes
        // leaves which manifest is current unknown, which is fatal.
        let old = manifest
        var snapshot = state
        let number = newFileNumber()
        snapshot.nextFileNumber = nextFileNumber.load(ordering: .relaxed)
        guard let next = try? Manifest(unpublished: directory, fileSystem: fileSystem, number: number, state: snapshot) else { return }
        testHooks.run(.manifestBeforeCurrentSwap)
        try next.makeCurrent()
        manifest = next
        try? old.close()
        try? fileSystem.remove(joinPath(directory, StoreFileNames.manifest(old.number)))
        try? fileSystem.syncDirectory(directory)
    }

    // MARK: Compaction pointers

    /// The largest user key of the last file compacted at `level` of
    /// `partition` (empty: none yet).
    func compactionPointer(_ partition: PartitionID, level: Int, _ held: borrowing VersionLock.Held) -> [UInt8] {
        compactionPointers[partition]?[level] ?? []
    }

    /// Records the file just picked for compaction at `level` of `partition`.
    func advanceCompactionPointer(_ partition: PartitionID, level: Int, to key: [UInt8], _ held: borrowing VersionLock.Held) {
        var pointers = compactionPointers[partition] ?? Array(repeating: [], count: levelCount)
        pointers[level] = key
        compactionPointers[partition] = pointers
    }

    // MARK: Close

    /// Closes the manifest (nothing more is recorded).
    func close() throws {
        try lock.withLock { _ in try manifest.close() }
    }

    // MARK: Invariants

    /// The current state (a copy), for tests and inspection.
    func currentState(_ held: borrowing VersionLock.Held) -> VersionState { state }

    /// Checks the invariants (see the type's documentation); a violation
    /// stops the process. Costs a pass over every live file: call it from
    /// debug-only paths.
    /// With `partitions`, the level invariants are checked for those only.
    func checkInvariants(partitions: Set<PartitionID>? = nil, _ held: borrowing VersionLock.Held) {
        let violations = Self.invariantViolations(
            of: state, nextFileNumber: nextFileNumber.load(ordering: .relaxed), manifestNumber: manifest.number,
            partitions: partitions)
        precondition(violations.isEmpty, "VersionSet invariants violated: \(violations.joined(separator: "; "))")
    }

    /// Checks that the files a partition reads from (`installed`, its
    /// in-memory version) are the files the version state lists for it,
    /// level by level; a mismatch stops the process. Call it right after
    /// installing an edit's result, in the same critical section.
    func checkInstalled(_ installed: PartitionVersion, of partition: PartitionID, _ held: borrowing VersionLock.Held) {
        let violations = Self.installedViolations(
            installed: installed.levels.map { $0.map(\.metadata.number) },
            listed: state.files[partition]?.map { $0.map(\.number) } ?? [])
        precondition(violations.isEmpty, "VersionSet and partition \(partition.tableId)/\(partition.partition) disagree: "
                     + violations.joined(separator: "; "))
    }

    /// How the file numbers a partition reads from (`installed`, by level)
    /// differ from those the version state lists (`listed`, by level; empty:
    /// no file ever).
    static func installedViolations(installed: [[UInt64]], listed: [[UInt64]]) -> [String] {
        var violations: [String] = []
        for level in 0..<max(installed.count, listed.count) {
            let reads = Set(level < installed.count ? installed[level] : [])
            let lists = Set(level < listed.count ? listed[level] : [])
            if reads != lists {
                violations.append("L\(level): reads \(reads.sorted()), the manifest lists \(lists.sorted())")
            }
        }
        return violations
    }

    /// The invariants `state` breaks, given the file number counter and the
    /// live manifest's number (empty: none). With `partitions`, the level
    /// invariants are checked for those only.
    static func invariantViolations(
        of state: VersionState, nextFileNumber: UInt64, manifestNumber: UInt64?, partitions: Set<PartitionID>? = nil
    ) -> [String] {
        var violations: [String] = []
        if state.nextFileNumber > nextFileNumber {
            violations.append("the state's next file number \(state.nextFileNumber) is past the counter \(nextFileNumber)")
        }
        if state.logNumber > nextFileNumber {
            violations.append("log number \(state.logNumber) is past the next file number \(nextFileNumber)")
        }
        if let manifestNumber, manifestNumber >= nextFileNumber {
            violations.append("manifest number \(manifestNumber) is not below the next file number \(nextFileNumber)")
        }
        for (partition, levels) in state.files.sorted(by: { $0.key < $1.key }) where partitions?.contains(partition) ?? true {
            let label = "table \(partition.tableId) partition \(partition.partition)"
            if levels.count != levelCount {
                violations.append("\(label) has \(levels.count) levels, not \(levelCount)")
            }
            for (level, files) in levels.enumerated() {
                for file in files where file.number >= nextFileNumber {
                    violations.append("\(label) L\(level): file \(file.number) is not below the next file number \(nextFileNumber)")
                }
                if level == 0 {
                    for (newer, older) in zip(files, files.dropFirst()) where newer.largestSequence < older.largestSequence {
                        violations.append("\(label) L0: file \(newer.number) is listed before older file \(older.number)")
                    }
                } else {
                    for (left, right) in zip(files, files.dropFirst())
                    where compareBytes(Array(left.largestUserKey), Array(right.smallestUserKey)) >= 0 {
                        violations.append("\(label) L\(level): files \(left.number) and \(right.number) overlap or are out of order")
                    }
                }
            }
        }
        return violations
    }
}
