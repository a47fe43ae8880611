import Synchronization

/// The engine behind ``Store``: the catalog of tables, the commit pipeline
/// and the read path. `Store` is its thin public façade.
final class Engine: CommitTarget, @unchecked Sendable {
    let directory: String
    let fileSystem: any FileSystem
    let options: StoreOptions
    private let directoryLock: any FileLock
    let tablesById: [UInt32: TableState]
    let tablesByName: [String: TableState]
    /// Set once in `open`, before any write.
    private(set) var pipeline: CommitPipeline!
    /// Next number for a new file (log segment, table file, manifest).
    private let nextFileNumber: Atomic<UInt64>
    let recovery: WriteAheadLog.RecoveryReport
    private let closed = Atomic<Bool>(false)

    // MARK: Open

    static func open(at directory: String, tables: [TableSchema], options: StoreOptions, fileSystem: any FileSystem) throws -> Engine {
        try fileSystem.createDirectory(directory)
        let lock = try fileSystem.lock(joinPath(directory, "LOCK"))
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

        let segments = try WriteAheadLog.segments(in: directory, fileSystem: fileSystem)
        let firstLog = segments.first ?? 1
        let states = try Engine.reconcileSchema(directory: directory, declared: tables, fileSystem: fileSystem, firstLogNumber: firstLog)
        tablesById = Dictionary(uniqueKeysWithValues: states.map { ($0.handle.id, $0) })
        tablesByName = Dictionary(uniqueKeysWithValues: states.map { ($0.handle.name, $0) })

        // Replay the log into the memtables.
        var lastSequence: UInt64 = 0
        var clock = CommitClock()
        let mode: LogReader.Mode = options.recovery == .strict ? .strict : .pointInTime
        let byId = tablesById
        recovery = try WriteAheadLog.replay(directory: directory, numbers: segments, fileSystem: fileSystem, mode: mode) { record, file, offset in
            guard let header = BatchDecoder.header(record) else {
                throw StoreError.corruption("log record too short for a batch header", file: file, offset: offset)
            }
            try Engine.apply(record, tables: byId, file: file, offset: offset)
            clock.observe(header.timestamp)
            if header.count > 0 {
                lastSequence = max(lastSequence, header.baseSequence + UInt64(header.count) - 1)
            } else {
                lastSequence = max(lastSequence, header.baseSequence)
            }
        }
        let newLog = (segments.last ?? 0) + 1
        nextFileNumber = Atomic(newLog + 1)
        let wal = try WriteAheadLog(directory: directory, fileSystem: fileSystem, segmentBytes: options.walSegmentBytes, number: newLog)
        pipeline = CommitPipeline(wal: wal, lastSequence: lastSequence, clock: clock, target: self, options: options)
    }

    /// Checks the declared tables against the `SCHEMA` file, records new ones,
    /// and returns a state for every table and index known to the directory.
    private static func reconcileSchema(
        directory: String, declared: [TableSchema], fileSystem: any FileSystem, firstLogNumber: UInt64
    ) throws -> [TableState] {
        let path = joinPath(directory, SchemaCatalog.fileName)
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
            let handle = Table(name: table.name, id: id, partitionCount: table.partitionCount, indexKind: nil, hasIndexes: !indexStates.isEmpty)
            states.append(TableState(handle: handle, firstLogNumber: firstLogNumber, indexes: indexStates))
        }
        // Tables known to the directory but not declared now: kept, so their log records replay.
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
        pipeline.shutdown()
        defer { directoryLock.unlock() }
        try pipeline.logForLeader.close()
        if let failure = pipeline.failed { throw failure }
    }

    var isClosed: Bool { closed.load(ordering: .acquiring) }

    // MARK: CommitTarget

    func apply(_ record: UnsafeRawBufferPointer) throws {
        try Engine.apply(record, tables: tablesById, file: nil, offset: nil)
    }

    /// Inserts every op of a logged batch into its partition's active memtable.
    static func apply(_ record: UnsafeRawBufferPointer, tables: [UInt32: TableState], file: String?, offset: Int64?) throws {
        guard let header = BatchDecoder.header(record) else {
            throw StoreError.corruption("batch shorter than its header", file: file, offset: offset)
        }
        var sequence = header.baseSequence
        var unknownTable: UInt32?
        var badKey = false
        let wellFormed = BatchDecoder.forEachOp(record) { op in
            guard let table = tables[op.tableId] else { unknownTable = op.tableId; return }
            guard let partition = table.partition(forUserKey: op.userKey) else { badKey = true; return }
            partition.active.add(userKey: op.userKey, sequence: sequence, kind: op.kind, value: op.value)
            sequence += 1
        }
        if let unknownTable {
            throw StoreError.corruption("batch refers to unknown table id \(unknownTable)", file: file, offset: offset)
        }
        guard wellFormed, !badKey, sequence - header.baseSequence == UInt64(header.count) else {
            throw StoreError.corruption("malformed batch (ops do not match the header)", file: file, offset: offset)
        }
    }

    func expandIndexes(_ batch: inout WriteBatch, overlay: inout IndexOverlay) throws {
        let original = batch.bytes
        var additions: [(kind: InternalKey.Kind, tableId: UInt32, userKey: [UInt8], value: [UInt8]?)] = []
        var failure: StoreError?
        _ = original.withUnsafeBytes { raw in
            BatchDecoder.forEachOp(raw) { op in
                guard failure == nil, let table = tablesById[op.tableId], !table.indexes.isEmpty else { return }
                guard let row = RowKeyCoding.decode(op.userKey) else {
                    failure = StoreError(.invalidArgument, "malformed row key in batch")
                    return
                }
                let userKey = Array(op.userKey)
                let newValue: [UInt8]? = op.kind == .value ? Array(op.value) : nil
                var oldValue: [UInt8]?
                if !op.isInsert {
                    if let pending = overlay.value(table: op.tableId, userKey: userKey) {
                        oldValue = pending
                    } else {
                        do { oldValue = try get(table: table, userKey: userKey, snapshot: pipeline.published.load(ordering: .acquiring)) }
                        catch let error as StoreError { failure = error; return }
                        catch { failure = StoreError(.io, "\(error)"); return }
                    }
                }
                overlay.record(table: op.tableId, userKey: userKey, value: newValue)
                for index in table.indexes {
                    let oldKey = oldValue.flatMap { index.schema.key(row, $0) }
                    let newKey = newValue.flatMap { index.schema.key(row, $0) }
                    let entryValue: [UInt8]? = newValue.map { index.schema.kind == .covering ? $0 : IndexReference.encode(row) }
                    if let oldKey, oldKey != newKey {
                        additions.append((.deletion, index.table.handle.id, RowKeyCoding.encode(oldKey), nil))
                    }
                    if let newKey, let entryValue {
                        if oldKey == newKey && index.schema.kind == .referencing { continue }
                        additions.append((.value, index.table.handle.id, RowKeyCoding.encode(newKey), entryValue))
                    }
                }
            }
        }
        if let failure { throw failure }
        for addition in additions {
            batch.appendRaw(kind: addition.kind, tableId: addition.tableId, userKey: addition.userKey, value: addition.value)
        }
    }

    func afterGroup() throws {
        let wal = pipeline.logForLeader
        if wal.isFull {
            try wal.roll(to: nextFileNumber.add(1, ordering: .relaxed).oldValue)
        }
    }

    func waitForMemoryBudget() {}

    // MARK: Reads

    /// The newest value of `userKey` visible at `snapshot`, or nil.
    func get(table: TableState, userKey: [UInt8], snapshot: UInt64) throws -> [UInt8]? {
        try userKey.withUnsafeBytes { key in
            guard let partition = table.partition(forUserKey: key) else {
                throw StoreError(.invalidArgument, "malformed row key")
            }
            for memtable in partition.sources() {
                switch memtable.get(userKey: key, snapshot: snapshot) {
                case .found(let value): return value
                case .deleted: return nil
                case .absent: continue
                }
            }
            return nil
        }
    }

    /// An iterator over the visible rows of one partition at `snapshot`.
    func rowIterator(partition: Partition, snapshot: UInt64) -> SnapshotIterator {
        let children: [any InternalIterator] = partition.sources().map { $0.makeIterator() }
        return SnapshotIterator(MergingIterator(children), snapshot: snapshot)
    }
}

/// Values written by the earlier batches of a commit group, which index
/// maintenance must see though they are not in the memtables yet.
struct IndexOverlay {
    private var values: [[UInt8]: [UInt8]?] = [:]

    /// `.some(nil)` when the row was deleted in this group; `nil` when the group did not touch it.
    func value(table: UInt32, userKey: [UInt8]) -> [UInt8]?? {
        values[Self.key(table, userKey)]
    }

    mutating func record(table: UInt32, userKey: [UInt8], value: [UInt8]?) {
        values[Self.key(table, userKey)] = .some(value)
    }

    private static func key(_ table: UInt32, _ userKey: [UInt8]) -> [UInt8] {
        var key: [UInt8] = []
        key.appendFixed32(table)
        key.append(contentsOf: userKey)
        return key
    }
}

extension RowKeyCoding {
    /// The user key of a row.
    static func encode(_ key: RowKey) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(key.partitionKey.count + key.sortKey.count + 2)
        key.partitionKey.withUnsafeBytes { pk in
            key.sortKey.withUnsafeBytes { sk in append(partitionKey: pk, sortKey: sk, to: &bytes) }
        }
        return bytes
    }

    /// The row key of a user key, or nil if malformed.
    static func decode(_ userKey: UnsafeRawBufferPointer) -> RowKey? {
        var cursor = ByteCursor(userKey)
        guard let partition = cursor.readLengthPrefixed() else { return nil }
        return RowKey(partitionKey: Array(partition), sortKey: Array(userKey[cursor.offset...]))
    }
}
