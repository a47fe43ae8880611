/// What `msgstore inspect` shows of one write-ahead log segment: its records
/// (one committed batch each), their sequence numbers, timestamps and sizes,
/// and — with entries — every op decoded.
public struct LogInspection: Sendable, Codable {
    /// One logged batch.
    public struct Record: Sendable, Codable {
        public var offset: Int64
        public var bytes: Int
        public var baseSequence: UInt64
        public var count: Int
        /// Commit stamp, as the renderer shows it.
        public var timestamp: String
        public var ops: [Op]?
    }

    /// One op of a batch.
    public struct Op: Sendable, Codable {
        public var kind: String
        public var table: String
        public var key: String
        public var value: String?
    }

    public var path: String
    public var sizeBytes: Int64
    public var records: [Record]
    /// The largest synced length a checkpoint record states: bytes before it
    /// were durable when the segment was last written.
    public var syncedThrough: Int64?
    /// Where an incomplete or damaged tail starts (normal for the segment a running server appends to).
    public var tornTailOffset: Int64?
    public var tornTailReason: String?

    /// Reads a segment (read-only; safe beside a running server).
    /// - Parameters:
    ///   - path: the log segment (`NNNNNN.log`).
    ///   - fileSystem: where the file lives.
    ///   - includeEntries: also decode every operation of every record.
    ///   - tableNames: table id → name, from the directory's `SCHEMA` (ids are shown when missing).
    ///   - renderer: shows keys, values and commit stamps (hex and microseconds by default).
    public static func inspect(
        path: String, fileSystem: any FileSystem = PosixFileSystem(), includeEntries: Bool = false,
        tableNames: [UInt32: String] = [:], renderer: any KeyRenderer = HexKeyRenderer()
    ) throws -> LogInspection {
        var records: [Record] = []
        var syncedThrough: Int64?
        let summary = try LogReader(path: path, mode: .pointInTime).read(using: fileSystem) { offset, record in
            if let synced = WriteAheadLog.checkpointedLength(record) {
                syncedThrough = max(syncedThrough ?? 0, synced)
                return
            }
            guard let header = BatchDecoder.header(record) else {
                throw StoreError.corruption("log record too short for a batch header", file: path, offset: offset)
            }
            var ops: [Op]?
            if includeEntries {
                var decoded: [Op] = []
                let ok = BatchDecoder.forEachOp(record) { op in
                    let table = tableNames[op.tableId] ?? "#\(op.tableId)"
                    decoded.append(Op(
                        kind: op.kind == .value ? "put" : "delete", table: table,
                        key: renderer.render(table: table, userKey: Array(op.userKey)),
                        value: op.kind == .value ? renderer.render(table: table, value: Array(op.value)) : nil))
                }
                guard ok else { throw StoreError.corruption("malformed batch", file: path, offset: offset) }
                ops = decoded
            }
            records.append(Record(offset: offset, bytes: record.count, baseSequence: header.baseSequence, count: header.count,
                                  timestamp: renderer.render(commitStamp: header.timestamp), ops: ops))
        }
        return LogInspection(path: path, sizeBytes: try fileSystem.fileSize(path), records: records, syncedThrough: syncedThrough,
                             tornTailOffset: summary.tornTail?.offset, tornTailReason: summary.tornTail?.reason)
    }
}

/// What `msgstore inspect` shows of a manifest: its version edits in order.
public struct ManifestInspection: Sendable, Codable {
    /// One edit, rendered.
    public struct Edit: Sendable, Codable {
        public var offset: Int64
        public var lines: [String]
    }

    public var path: String
    public var edits: [Edit]
    public var tornTailOffset: Int64?

    /// Reads a manifest file (read-only).
    /// - Parameters:
    ///   - path: the manifest (`MANIFEST-NNNNNN`).
    ///   - fileSystem: where the file lives.
    ///   - tableNames: table id → name, from the directory's `SCHEMA` (ids are shown when missing).
    ///   - renderer: shows the commit stamps (microseconds by default).
    public static func inspect(
        path: String, fileSystem: any FileSystem = PosixFileSystem(), tableNames: [UInt32: String] = [:],
        renderer: any KeyRenderer = HexKeyRenderer()
    ) throws -> ManifestInspection {
        var edits: [Edit] = []
        let summary = try LogReader(path: path, mode: .pointInTime).read(using: fileSystem) { offset, record in
            guard let edit = VersionEdit.decode(record) else {
                throw StoreError.corruption("malformed version edit", file: path, offset: offset)
            }
            var lines: [String] = []
            if let v = edit.nextFileNumber { lines.append("next file number \(v)") }
            if let v = edit.lastSequence { lines.append("last sequence \(v)") }
            if let v = edit.lastTimestamp { lines.append("last timestamp \(renderer.render(commitStamp: v))") }
            if let v = edit.logNumber { lines.append("log number \(v)") }
            func name(_ id: PartitionID) -> String { "\(tableNames[id.tableId] ?? "#\(id.tableId)")[\(id.partition)]" }
            for (id, sequence) in edit.flushed.sorted(by: { $0.key < $1.key }) { lines.append("flushed \(name(id)) up to sequence \(sequence)") }
            for deleted in edit.deletedFiles { lines.append("delete \(name(deleted.partition)) L\(deleted.level) \(StoreFileNames.table(deleted.number))") }
            for added in edit.addedFiles {
                lines.append("add \(name(added.partition)) L\(added.level) \(StoreFileNames.table(added.file.number)) \(added.file.size) bytes, \(added.file.entries) entries, sequences \(added.file.smallestSequence)...\(added.file.largestSequence)")
            }
            edits.append(Edit(offset: offset, lines: lines))
        }
        return ManifestInspection(path: path, edits: edits, tornTailOffset: summary.tornTail?.offset)
    }
}
