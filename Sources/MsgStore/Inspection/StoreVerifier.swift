/// `msgstore verify`: checks every checksum and invariant of a data directory
/// (or of one file) and says what it checked and what is wrong, with file
/// and offset. Read-only and lock-free (safe beside a running server).
public struct VerificationReport: Sendable, Codable {
    /// One thing wrong.
    public struct Problem: Sendable, Codable, Equatable, CustomStringConvertible {
        public var file: String
        public var offset: Int64?
        public var message: String
        public var description: String { file + (offset.map { " at offset \($0)" } ?? "") + ": " + message }
    }

    /// What was checked, one line each.
    public var checked: [String] = []
    /// Observations that are not problems (a torn tail on the live log segment, …).
    public var notes: [String] = []
    public var problems: [Problem] = []

    /// Whether nothing is wrong.
    public var isSound: Bool { problems.isEmpty }

    mutating func problem(_ file: String, _ offset: Int64?, _ message: String) {
        problems.append(Problem(file: file, offset: offset, message: message))
    }

    mutating func record(_ error: any Error, file: String) {
        if let error = error as? StoreError {
            problem(error.file ?? file, error.offset, "\(error.code): \(error.message)")
        } else {
            problem(file, nil, "\(error)")
        }
    }
}

/// Verifies data directories and files.
public enum StoreVerifier {
    /// How far a verification of a data directory got: files checked of
    /// those it will check (SSTables, then log segments), bytes of them, and
    /// the file being checked.
    public struct Progress: Sendable {
        /// Files checked so far.
        public var filesDone: Int
        /// Files to check in all.
        public var filesTotal: Int
        /// Bytes of the checked files.
        public var bytesDone: UInt64
        /// Bytes of all the files to check.
        public var bytesTotal: UInt64
        /// The file checked next (its name).
        public var current: String
    }

    /// Verifies a data directory, an SSTable, a log segment, a manifest or a
    /// `SCHEMA` file. For a data directory `progress` is called before each
    /// SSTable and log segment, and once at the end.
    public static func verify(path: String, fileSystem: any FileSystem = PosixFileSystem(),
                              progress: ((Progress) -> Void)? = nil) -> VerificationReport {
        var report = VerificationReport()
        let name = path.split(separator: "/").last.map(String.init) ?? path
        if isDirectory(path) && fileSystem.exists(joinPath(path, StoreFileNames.current)) == false
            && (try? fileSystem.contentsOfDirectory(path))?.contains(where: { $0.hasSuffix(StoreFileNames.queueSegmentSuffix) }) == true {
            verifyQueueFiles(path, into: &report, fileSystem: fileSystem)  // a queue directory
        } else if isDirectory(path) {
            verifyDirectory(path, fileSystem: fileSystem, into: &report, progress: progress)
        } else if StoreFileNames.tableNumber(name) != nil {
            verifyTable(path, fileSystem: fileSystem, into: &report)
        } else if StoreFileNames.logNumber(name) != nil {
            verifyLog(path, isLive: true, fileSystem: fileSystem, into: &report)
        } else if name.hasSuffix(StoreFileNames.queueSegmentSuffix) {
            verifyQueueFiles(path, into: &report, fileSystem: fileSystem)
        } else if StoreFileNames.manifestNumber(name) != nil {
            do {
                let inspection = try ManifestInspection.inspect(path: path, fileSystem: fileSystem)
                report.checked.append("manifest \(name): \(inspection.edits.count) edits, every checksum")
                if let torn = inspection.tornTailOffset { report.notes.append("manifest \(name): torn tail at offset \(torn)") }
            } catch { report.record(error, file: path) }
        } else if name == StoreFileNames.schema {
            do {
                let file = try fileSystem.open(path, mode: .read)
                defer { try? file.close() }
                let catalog = try SchemaCatalog.decode(try file.readAll(), path: path)
                report.checked.append("SCHEMA: \(catalog.entries.count) tables and indexes, checksum")
            } catch { report.record(error, file: path) }
        } else {
            report.problem(path, nil, "not a msgstore data directory or file (expected a directory, NNNNNN.sst, NNNNNN.log, MANIFEST-NNNNNN, SCHEMA or a queue NNNNNN.qlog)")
        }
        return report
    }

    static func isDirectory(_ path: String) -> Bool {
        (try? PosixFileSystem().contentsOfDirectory(path)) != nil
    }

    static func verifyQueueFiles(_ path: String, into report: inout VerificationReport, fileSystem: any FileSystem) {
        let result = verifyQueue(path: path, fileSystem: fileSystem)
        for problem in result.problems { report.problem(problem.file, problem.offset, problem.message) }
        report.checked.append("queue \(path.split(separator: "/").last ?? ""): \(result.filesChecked) files, \(result.recordsChecked) records, every checksum")
    }

    static func verifyTable(_ path: String, fileSystem: any FileSystem, into report: inout VerificationReport) {
        let problems = SSTableInspection.verify(path: path, fileSystem: fileSystem)
        for problem in problems { report.problem(problem.file, problem.offset, problem.message) }
        report.checked.append("SSTable \(path.split(separator: "/").last ?? ""): footer, every block checksum, key order")
    }

    static func verifyLog(_ path: String, isLive: Bool, fileSystem: any FileSystem, into report: inout VerificationReport) {
        do {
            var records = 0
            let checkpoints: ((UnsafeRawBufferPointer) -> Int64?)? = isLive ? { WriteAheadLog.checkpointedLength($0) } : nil
            let reader = LogReader(path: path, mode: .strict, syncedLength: checkpoints)
            let summary = try reader.read(using: fileSystem) { offset, record in
                if WriteAheadLog.checkpointedLength(record) != nil { return }
                guard BatchDecoder.header(record) != nil, BatchDecoder.forEachOp(record, { _ in }) else {
                    throw StoreError.corruption("malformed batch", file: path, offset: offset)
                }
                records += 1
            }
            report.checked.append("log \(path.split(separator: "/").last ?? ""): \(records) records, every checksum")
            if let torn = summary.tornTail {
                let text = "log \(path): incomplete tail at offset \(torn.offset) (\(torn.reason))"
                if isLive { report.notes.append(text + "; recovery cuts it") }
                else { report.problem(path, torn.offset, "\(torn.reason) in a log segment that is not the newest") }
            }
        } catch { report.record(error, file: path) }
    }

    static func verifyDirectory(_ directory: String, fileSystem: any FileSystem, into report: inout VerificationReport,
                                progress: ((Progress) -> Void)? = nil) {
        // SCHEMA
        var names: [UInt32: String] = [:]
        do {
            let catalog = try DirectoryInspection.readCatalog(directory: directory, fileSystem: fileSystem)
            names = Dictionary(catalog.entries.map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
            report.checked.append("SCHEMA: \(catalog.entries.count) tables and indexes, checksum")
        } catch { report.record(error, file: joinPath(directory, StoreFileNames.schema)) }

        // Manifest
        let loaded: Manifest.Loaded
        do {
            loaded = try Manifest.load(directory: directory, fileSystem: fileSystem)
        } catch {
            report.record(error, file: joinPath(directory, StoreFileNames.current))
            return
        }
        report.notes.append(contentsOf: loaded.notes)
        let state = loaded.state
        report.checked.append("manifest \(loaded.manifestNumber.map(StoreFileNames.manifest) ?? "(none: empty store)"): every edit's checksum, deletions refer to live files")

        // What will be checked, for progress: the manifest's SSTables, then the live log segments.
        let directoryNames = (try? fileSystem.contentsOfDirectory(directory)) ?? []
        let logs = directoryNames.compactMap(StoreFileNames.logNumber).filter { $0 >= state.logNumber }.sorted()
        let allTables = state.files.values.flatMap { $0.flatMap { $0 } }
        var done = Progress(filesDone: 0, filesTotal: allTables.count + logs.count, bytesDone: 0,
                            bytesTotal: allTables.reduce(0) { $0 + $1.size }, current: "")
        var logBytes: [UInt64: UInt64] = [:]
        for number in logs {
            var size: Int64 = 0
            if let file = try? fileSystem.open(joinPath(directory, StoreFileNames.log(number)), mode: .read) {
                size = (try? file.size()) ?? 0
                try? file.close()
            }
            logBytes[number] = UInt64(max(0, size))
            done.bytesTotal += UInt64(max(0, size))
        }

        // SSTables: each file, its agreement with the manifest, and level ordering.
        var tablesChecked = 0
        for (id, levels) in state.files.sorted(by: { $0.key < $1.key }) {
            let label = "\(names[id.tableId] ?? "#\(id.tableId)")[\(id.partition)]"
            for (level, files) in levels.enumerated() {
                for file in files {
                    let path = joinPath(directory, StoreFileNames.table(file.number))
                    done.current = StoreFileNames.table(file.number)
                    progress?(done)
                    done.filesDone += 1
                    done.bytesDone += file.size
                    guard fileSystem.exists(path) else {
                        report.problem(path, nil, "listed in the manifest (\(label) L\(level)) but missing")
                        continue
                    }
                    let before = report.problems.count
                    for problem in SSTableInspection.verify(path: path, fileSystem: fileSystem) {
                        report.problem(problem.file, problem.offset, problem.message)
                    }
                    tablesChecked += 1
                    guard report.problems.count == before else { continue }
                    do {
                        let reader = try SSTableReader.open(fileSystem: fileSystem, path: path, fileNumber: file.number, cache: nil)
                        defer { try? reader.close() }
                        if reader.fileSize != file.size {
                            report.problem(path, nil, "size \(reader.fileSize) differs from the manifest's \(file.size)")
                        }
                        if reader.properties.smallestKey != file.smallest || reader.properties.largestKey != file.largest
                            || reader.properties.entryCount != file.entries {
                            report.problem(path, nil, "key range or entry count differs from the manifest")
                        }
                    } catch { report.record(error, file: path) }
                }
                guard level > 0 else { continue }
                for (left, right) in zip(files, files.dropFirst())
                where compareBytes(Array(left.largestUserKey), Array(right.smallestUserKey)) >= 0 {
                    report.problem(joinPath(directory, StoreFileNames.table(right.number)), nil,
                                   "\(label) L\(level): overlaps \(StoreFileNames.table(left.number)) (level files must be disjoint and ordered)")
                }
            }
        }
        report.checked.append("\(tablesChecked) SSTables: every block checksum, key order within each, size and key range against the manifest; levels 1+ disjoint and ordered")

        // Log segments still needed.
        for (index, number) in logs.enumerated() {
            done.current = StoreFileNames.log(number)
            progress?(done)
            verifyLog(joinPath(directory, StoreFileNames.log(number)), isLive: index == logs.count - 1, fileSystem: fileSystem, into: &report)
            done.filesDone += 1
            done.bytesDone += logBytes[number] ?? 0
        }
        done.current = ""
        progress?(done)
        let queueDirectory = joinPath(directory, StoreFileNames.queuesDirectory)
        for name in ((try? fileSystem.contentsOfDirectory(queueDirectory)) ?? []).sorted() {
            verifyQueueFiles(joinPath(queueDirectory, name), into: &report, fileSystem: fileSystem)
        }
        let live = state.liveFileNumbers
        let stray = directoryNames.compactMap(StoreFileNames.tableNumber).filter { !live.contains($0) }
        if !stray.isEmpty {
            report.notes.append("\(stray.count) SSTable(s) not in the manifest (a compaction in progress, or left by a crash; removed at the next open)")
        }
    }
}
