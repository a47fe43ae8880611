/// What `msgstore inspect DIR` shows of a data directory: the tables and
/// their partitions, the SSTables of every level (counts, sizes, key ranges),
/// the log, the manifest's counters, amplification, and the queues.
///
/// Read-only and lock-free, so it is safe beside a running server: it reads
/// `CURRENT`, the manifest and file sizes; files a compaction deletes while
/// it runs are reported as gone, never as errors.
public struct DirectoryInspection: Sendable, Codable {
    /// A table or index of the directory.
    public struct TableInfo: Sendable, Codable {
        public var name: String
        public var id: UInt32
        public var kind: String
        public var partitions: Int
        /// Files and bytes per level, summed over partitions.
        public var levelFiles: [Int]
        public var levelBytes: [UInt64]
        public var entries: UInt64
        public var files: [FileInfo]?
    }

    /// An SSTable.
    public struct FileInfo: Sendable, Codable {
        public var name: String
        public var partition: Int
        public var level: Int
        public var bytes: UInt64
        public var entries: UInt64
        public var sequences: String
        public var smallestKey: String
        public var largestKey: String
    }

    /// A durable queue of the directory.
    public struct QueueInfo: Sendable, Codable {
        public var name: String
        public var depth: Int
        public var segments: Int
        public var bytes: Int64
        public var unacked: String?
    }

    /// A log segment.
    public struct LogSegment: Sendable, Codable {
        public var name: String
        public var bytes: Int64
    }

    public var path: String
    public var manifest: String?
    public var notes: [String]
    public var lastSequence: UInt64
    public var lastTimestamp: String
    public var nextFileNumber: UInt64
    public var logNumber: UInt64
    public var tables: [TableInfo]
    public var logSegments: [LogSegment]
    public var logBytes: Int64
    public var sstBytes: UInt64
    /// Live SSTable bytes / bytes of each partition's deepest non-empty level.
    public var spaceAmplification: Double
    public var queues: [QueueInfo]

    /// Reads the directory (read-only; safe beside a running server).
    /// - Parameters:
    ///   - path: the data directory.
    ///   - fileSystem: where the files live.
    ///   - includeFiles: also list every SSTable with its key range.
    ///   - renderer: shows the key ranges and the last commit stamp (hex and microseconds by default).
    public static func inspect(
        path: String, fileSystem: any FileSystem = PosixFileSystem(), includeFiles: Bool = false,
        renderer: any KeyRenderer = HexKeyRenderer()
    ) throws -> DirectoryInspection {
        let loaded = try Manifest.load(directory: path, fileSystem: fileSystem)
        let state = loaded.state
        let catalog = try readCatalog(directory: path, fileSystem: fileSystem)
        var tables: [TableInfo] = []
        var allLevelBytes = Array(repeating: UInt64(0), count: levelCount)
        let perPartition = state.files.values.map { levels in levels.map { $0.reduce(UInt64(0)) { $0 + $1.size } } }
        for entry in catalog.entries.sorted(by: { $0.name < $1.name }) {
            var files = Array(repeating: 0, count: levelCount)
            var bytes = Array(repeating: UInt64(0), count: levelCount)
            var entries: UInt64 = 0
            var list: [FileInfo] = []
            for partition in 0..<entry.partitionCount {
                guard let levels = state.files[PartitionID(tableId: entry.id, partition: partition)] else { continue }
                for (level, levelFiles) in levels.enumerated() {
                    for file in levelFiles {
                        files[level] += 1
                        bytes[level] += file.size
                        entries += file.entries
                        if includeFiles {
                            list.append(FileInfo(
                                name: StoreFileNames.table(file.number), partition: partition, level: level, bytes: file.size,
                                entries: file.entries, sequences: "\(file.smallestSequence)...\(file.largestSequence)",
                                smallestKey: renderer.render(table: entry.name, userKey: Array(file.smallestUserKey)),
                                largestKey: renderer.render(table: entry.name, userKey: Array(file.largestUserKey))))
                        }
                    }
                }
            }
            for level in 0..<levelCount { allLevelBytes[level] += bytes[level] }
            tables.append(TableInfo(
                name: entry.name, id: entry.id, kind: entry.kind == 0 ? "table" : entry.kind == 1 ? "covering index" : "referencing index",
                partitions: entry.partitionCount, levelFiles: files, levelBytes: bytes, entries: entries,
                files: includeFiles ? list : nil))
        }
        let names = try fileSystem.contentsOfDirectory(path)
        let logs = names.compactMap { name in StoreFileNames.logNumber(name).map { (name, $0) } }.sorted { $0.1 < $1.1 }
        var segments: [LogSegment] = []
        for (name, _) in logs {
            if let size = try? fileSystem.fileSize(joinPath(path, name)) { segments.append(LogSegment(name: name, bytes: size)) }
        }
        let sstBytes = allLevelBytes.reduce(0, +)
        var queues: [QueueInfo] = []
        let queueDirectory = joinPath(path, StoreFileNames.queuesDirectory)
        if fileSystem.exists(queueDirectory) {
            for name in ((try? fileSystem.contentsOfDirectory(queueDirectory)) ?? []).sorted() {
                guard let queue = try? QueueInspection.inspect(path: joinPath(queueDirectory, name), fileSystem: fileSystem) else { continue }
                queues.append(QueueInfo(name: name, depth: queue.depth, segments: queue.segments.count, bytes: queue.segmentBytes,
                                        unacked: queue.unackedRange.map { "\($0.lowerBound)...\($0.upperBound)" }))
            }
        }
        return DirectoryInspection(
            path: path, manifest: loaded.manifestNumber.map(StoreFileNames.manifest), notes: loaded.notes,
            lastSequence: state.lastSequence, lastTimestamp: renderer.render(commitStamp: state.lastTimestamp),
            nextFileNumber: state.nextFileNumber, logNumber: state.logNumber, tables: tables,
            logSegments: segments, logBytes: segments.reduce(0) { $0 + $1.bytes }, sstBytes: sstBytes,
            spaceAmplification: lsmSpaceAmplification(levelBytesPerPartition: perPartition), queues: queues)
    }

    /// The `SCHEMA` catalog of a directory (empty if there is none).
    static func readCatalog(directory: String, fileSystem: any FileSystem) throws -> SchemaCatalog {
        let path = joinPath(directory, StoreFileNames.schema)
        guard fileSystem.exists(path) else { return SchemaCatalog() }
        let file = try fileSystem.open(path, mode: .read)
        defer { try? file.close() }
        return try SchemaCatalog.decode(try file.readAll(), path: path)
    }

    /// Table id → name, from the directory's `SCHEMA`.
    public static func tableNames(directory: String, fileSystem: any FileSystem = PosixFileSystem()) -> [UInt32: String] {
        guard let catalog = try? readCatalog(directory: directory, fileSystem: fileSystem) else { return [:] }
        return Dictionary(catalog.entries.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
    }
}
