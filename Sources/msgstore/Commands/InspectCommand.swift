import ArgumentParser
import Foundation
import MsgStore

/// `msgstore inspect PATH`: read a data directory, an SSTable, a log segment
/// or a manifest — read-only, safe beside a running server.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what is inside a data directory, an SSTable (.sst), a log segment (.log), a manifest, or a queue (directory or .qlog).",
        discussion: "Read-only and lock-free: safe to run beside a running server. Rows of the messaging tables are decoded (ids as UUIDs, dates as ISO-8601, content as text); rows of other tables are shown in hex."
    )

    @Argument(help: "A data directory, NNNNNN.sst, NNNNNN.log, MANIFEST-NNNNNN, a queue directory (queues/NAME) or NNNNNN.qlog.")
    var path: String

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    @Flag(help: "Also list entries (SSTable keys and values, log ops) or, for a directory, every SSTable.")
    var entries = false

    @Option(help: "Show at most this many entries.")
    var limit: Int = 100

    /// Knows the messaging tables; hex for anything else.
    private var renderer: MessagingKeyRenderer { MessagingKeyRenderer() }

    func run() throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("no such file or directory: \(path)")
        }
        let name = URL(fileURLWithPath: path).lastPathComponent
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        do {
            let isQueueDirectory = isDirectory.boolValue && !FileManager.default.fileExists(atPath: path + "/CURRENT")
                && ((try? FileManager.default.contentsOfDirectory(atPath: path))?.contains { $0.hasSuffix(".qlog") } ?? false)
            if isQueueDirectory || name.hasSuffix(".qlog") {
                let inspection = try QueueInspection.inspect(path: path, entries: entries)
                printQueue(inspection, limit: limit, json: json)
            } else if isDirectory.boolValue {
                let inspection = try DirectoryInspection.inspect(path: path, includeFiles: entries, renderer: renderer)
                if json { try printJSON(inspection) } else { printDirectory(inspection) }
            } else if name.hasSuffix(".sst") {
                var inspection = try SSTableInspection.inspect(path: path, includeEntries: entries)
                inspection.entries = inspection.entries.map { Array($0.prefix(limit)) }
                if json { try printJSON(inspection) } else { printTable(inspection, table: tableName(ofSSTable: path)) }
            } else if name.hasSuffix(".log") {
                let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
                var inspection = try LogInspection.inspect(path: path, includeEntries: entries,
                                                           tableNames: DirectoryInspection.tableNames(directory: directory),
                                                           renderer: renderer)
                if entries { inspection.records = Array(inspection.records.prefix(limit)) }
                if json { try printJSON(inspection) } else { printLog(inspection, showRecords: entries) }
            } else if name.hasPrefix("MANIFEST-") {
                let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
                let inspection = try ManifestInspection.inspect(path: path, tableNames: DirectoryInspection.tableNames(directory: directory),
                                                                 renderer: renderer)
                if json { try printJSON(inspection) } else {
                    print("manifest \(inspection.path): \(inspection.edits.count) edits")
                    for edit in inspection.edits.prefix(limit) {
                        print("@\(edit.offset)")
                        for line in edit.lines { print("  \(line)") }
                    }
                    if let torn = inspection.tornTailOffset { print("torn tail at offset \(torn)") }
                }
            } else {
                throw ValidationError("\(path) is not a data directory, NNNNNN.sst, NNNNNN.log or MANIFEST-NNNNNN")
            }
        } catch let error as StoreError {
            throw CleanExit.message("error: \(error)")
        }
    }

    private func printDirectory(_ inspection: DirectoryInspection) {
        print("data directory \(inspection.path)")
        print("  manifest \(inspection.manifest ?? "(none)"), last sequence \(inspection.lastSequence), last commit \(inspection.lastTimestamp)")
        print("  next file \(inspection.nextFileNumber), log number \(inspection.logNumber)")
        for note in inspection.notes { print("  note: \(note)") }
        print("")
        print(pad("table", 28) + pad("kind", 18) + pad("parts", 6, right: true) + pad("entries", 12, right: true) + "  files per level (L0..L6)   bytes")
        for table in inspection.tables {
            let files = table.levelFiles.map(String.init).joined(separator: ",")
            let bytes = table.levelBytes.reduce(0, +)
            print(pad(table.name, 28) + pad(table.kind, 18) + pad(String(table.partitions), 6, right: true)
                  + pad(String(table.entries), 12, right: true) + "  " + pad(files, 26) + formatBytes(bytes))
            for file in table.files ?? [] {
                print("    \(file.name) p\(file.partition) L\(file.level) \(formatBytes(file.bytes)) \(file.entries) entries seq \(file.sequences)")
                print("      \(file.smallestKey)  …  \(file.largestKey)")
            }
        }
        print("")
        print("  SSTables \(formatBytes(inspection.sstBytes)), space amplification \(String(format: "%.2f", inspection.spaceAmplification))")
        print("  log: \(inspection.logSegments.count) segment(s), \(formatBytes(UInt64(inspection.logBytes))): " + inspection.logSegments.map { "\($0.name) \(formatBytes(UInt64($0.bytes)))" }.joined(separator: ", "))
        for queue in inspection.queues {
            print("  queue \(queue.name): depth \(queue.depth), \(queue.segments) segment(s), \(formatBytes(UInt64(max(queue.bytes, 0))))" + (queue.unacked.map { ", unacked \($0)" } ?? ""))
        }
    }

    private func printQueue(_ inspection: QueueInspection, limit: Int, json: Bool) {
        struct Summary: Encodable {
            var path: String; var depth: Int; var ackedLowWater: UInt64; var unacked: String?
            var segments: [[String: String]]; var entries: [[String: String]]
        }
        // The queue's name: its directory (queues/NAME), or the directory of a .qlog.
        let url = URL(fileURLWithPath: inspection.path)
        let queueName = (url.pathExtension == "qlog" ? url.deletingLastPathComponent() : url).lastPathComponent
        let entries = inspection.entries.prefix(limit).map { entry in
            ["sequence": String(entry.sequence), "file": entry.file, "offset": String(entry.offset),
             "enqueued": renderer.render(commitStamp: entry.enqueuedAtMicros), "attempts": String(entry.attempts),
             "acked": String(entry.isAcked), "payload": renderer.render(queue: queueName, payload: entry.payload)]
        }
        let segments = inspection.segments.map { segment in
            ["path": segment.path, "bytes": String(segment.sizeBytes), "records": String(segment.records),
             "sequences": segment.sequenceRange.map { "\($0.lowerBound)...\($0.upperBound)" } ?? "-"]
        }
        if json {
            try? printJSON(Summary(path: inspection.path, depth: inspection.depth, ackedLowWater: inspection.ackedLowWater,
                                   unacked: inspection.unackedRange.map { "\($0.lowerBound)...\($0.upperBound)" },
                                   segments: segments, entries: entries))
            return
        }
        print("queue \(inspection.path): depth \(inspection.depth), acked below \(inspection.ackedLowWater), \(formatBytes(UInt64(max(inspection.segmentBytes, 0)))) in \(inspection.segments.count) segment(s)")
        for segment in segments { print("  \(segment["path"]!) \(segment["bytes"]!) bytes, \(segment["records"]!) records, sequences \(segment["sequences"]!)") }
        for entry in entries {
            print("  #\(entry["sequence"]!) @\(entry["offset"]!) \(entry["enqueued"]!) attempts \(entry["attempts"]!)\(entry["acked"] == "true" ? " acked" : ""): \(entry["payload"]!)")
        }
    }

    /// The table an SSTable of a data directory belongs to (from the directory's
    /// manifest), or "" when its directory is not a data directory.
    private func tableName(ofSSTable path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        guard let inspection = try? DirectoryInspection.inspect(path: directory, includeFiles: true) else { return "" }
        let name = url.lastPathComponent
        return inspection.tables.first { $0.files?.contains { $0.name == name } ?? false }?.name ?? ""
    }

    private func printTable(_ inspection: SSTableInspection, table: String) {
        let p = inspection.properties
        print("SSTable \(inspection.path): \(formatBytes(inspection.fileSize)), format v\(inspection.formatVersion)")
        print("  entries \(p.entryCount) (\(p.deletionCount) deletions), sequences \(p.smallestSequence)...\(p.largestSequence)")
        print("  table \(table.isEmpty ? "(unknown)" : table), keys \(renderer.render(table: table, userKey: Array(p.smallestKey.dropLast(8))))  …  \(renderer.render(table: table, userKey: Array(p.largestKey.dropLast(8))))")
        let ratio = p.storedDataBytes == 0 ? 0 : Double(p.rawDataBytes) / Double(p.storedDataBytes)
        print("  data \(formatBytes(p.rawDataBytes)) raw → \(formatBytes(p.storedDataBytes)) stored (\(String(format: "%.2f", ratio))×) in \(p.dataBlockCount) blocks, \(p.compression) level \(p.compressionLevel), dictionary \(formatBytes(p.dictionarySizeBytes))")
        for filter in inspection.filters {
            print("  filter \(filter.name): \(filter.bitCount) bits, \(filter.keyCount) keys, \(filter.probeCount) probes")
        }
        print("")
        print(pad("block", 22) + pad("offset", 10, right: true) + pad("stored", 10, right: true) + pad("raw", 10, right: true) + pad("ratio", 8, right: true) + "  compression")
        for block in inspection.blocks {
            print(pad(block.kind, 22) + pad(String(block.offset), 10, right: true) + pad(String(block.storedSize), 10, right: true)
                  + pad(String(block.rawSize), 10, right: true) + pad(String(format: "%.2f", block.ratio), 8, right: true) + "  " + block.compression)
        }
        if let entries = inspection.entries {
            print("")
            for entry in entries {
                print("\(renderer.render(table: table, userKey: entry.userKey)) @\(entry.sequence) \(entry.kind): \(entry.kind == "value" ? renderer.render(table: table, value: entry.value) : "")")
            }
        }
    }

    private func printLog(_ inspection: LogInspection, showRecords: Bool) {
        let ops = inspection.records.reduce(0) { $0 + $1.count }
        print("log segment \(inspection.path): \(formatBytes(UInt64(inspection.sizeBytes))), \(inspection.records.count) batches, \(ops) ops")
        if let first = inspection.records.first, let last = inspection.records.last {
            print("  sequences \(first.baseSequence)...\(last.baseSequence + UInt64(max(last.count, 1)) - 1), commits \(first.timestamp) … \(last.timestamp)")
        }
        if let torn = inspection.tornTailOffset { print("  incomplete tail at offset \(torn): \(inspection.tornTailReason ?? "")") }
        guard showRecords else { return }
        for record in inspection.records {
            print("@\(record.offset) seq \(record.baseSequence) ops \(record.count) \(record.bytes) bytes \(record.timestamp)")
            for op in record.ops ?? [] { print("  \(op.kind) \(op.table) \(op.key)" + (op.value.map { " = \($0)" } ?? "")) }
        }
    }
}
