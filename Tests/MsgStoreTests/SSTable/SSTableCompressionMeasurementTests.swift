import Foundation
import Testing
@testable import MsgStore

/// Measures bytes per inbox entry on a generated workload (docs/workload.md,
/// written by Tools/bench/gen_workload.py), with and without a per-file zstd
/// dictionary. Gated: runs only with
/// `MSGSTORE_WORKLOAD=/tmp/msgbench-wl-small swift test --filter TableCompressionMeasurement`.
@Suite struct TableCompressionMeasurementTests {
    /// Inbox entries of the workload as (internal key, value), sorted.
    static func inboxEntries(workload: String) throws -> [(key: [UInt8], value: [UInt8])] {
        let load = [UInt8](try Data(contentsOf: URL(fileURLWithPath: workload + "/load.bin")))
        let groupsBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: workload + "/groups.bin")))
        func u32(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 24 }
        var groups: [[UInt8]: [[UInt8]]] = [:]
        var offset = 16
        while offset < groupsBytes.count {
            let id = Array(groupsBytes[offset..<(offset + 16)])
            let count = u32(groupsBytes, offset + 16)
            offset += 20
            groups[id] = (0..<count).map { i in Array(groupsBytes[(offset + 16 * i)..<(offset + 16 * i + 16)]) }
            offset += 16 * count
        }
        var entries: [(key: [UInt8], value: [UInt8])] = []
        var sequence: UInt64 = 0
        offset = 16
        while offset < load.count {
            let op = load[offset], flags = load[offset + 1]
            let length = u32(load, offset + 4)
            let sender = Array(load[(offset + 8)..<(offset + 24)])
            let target = Array(load[(offset + 24)..<(offset + 40)])
            let messageId = Array(load[(offset + 40)..<(offset + 56)])
            let date = load[(offset + 56)..<(offset + 64)].reversed()  // LE → BE
            let content = load[(offset + 64)..<(offset + 64 + length)]
            offset += 64 + length
            sequence += 1
            let recipients: [[UInt8]]
            let groupId: [UInt8]
            if op == 1 {
                if flags & 1 != 0 { continue }
                recipients = [target]
                groupId = [UInt8](repeating: 0, count: 16)
            } else {
                recipients = (groups[target] ?? []).filter { $0 != sender }
                groupId = target
            }
            let value = sender + groupId + content
            for recipient in recipients {
                let userKey = TableTesting.rowKey(partition: recipient, sortKey: Array(date) + messageId)
                entries.append((InternalKey.make(userKey: userKey, sequence: sequence, kind: .value), value))
            }
        }
        entries.sort { TableTesting.compare($0.key, $1.key) < 0 }
        return entries
    }

    @Test func measureInboxCompression() throws {
        guard let workload = ProcessInfo.processInfo.environment["MSGSTORE_WORKLOAD"] else { return }
        let entries = try Self.inboxEntries(workload: workload)
        let logical = entries.reduce(0) { $0 + $1.key.count - 8 - 1 + $1.value.count }  // the 40-byte key + value, as the peers count
        print("workload \(workload): \(entries.count) inbox entries, logical \(logical) B (\(String(format: "%.1f", Double(logical) / Double(entries.count))) B/entry)")
        let directory = TemporaryDirectory()
        struct Variant { var name: String; var level: Int32?; var dictionary: SSTableOptions.DictionaryOptions?; var blockSize: Int }
        let variants = [
            Variant(name: "none", level: nil, dictionary: nil, blockSize: 4096),
            Variant(name: "zstd1", level: 1, dictionary: nil, blockSize: 4096),
            Variant(name: "zstd3", level: 3, dictionary: nil, blockSize: 4096),
            Variant(name: "zstd3+dict16K", level: 3, dictionary: .init(maxSizeBytes: 16 << 10, trainingBytes: 1 << 20), blockSize: 4096),
            Variant(name: "zstd3+dict64K", level: 3, dictionary: .init(maxSizeBytes: 64 << 10, trainingBytes: 4 << 20), blockSize: 4096),
            Variant(name: "zstd3+dict64K/1MiB", level: 3, dictionary: .init(maxSizeBytes: 64 << 10, trainingBytes: 1 << 20), blockSize: 4096),
            Variant(name: "zstd3+dict110K", level: 3, dictionary: .init(maxSizeBytes: 110 << 10, trainingBytes: 4 << 20), blockSize: 4096),
            Variant(name: "zstd1+dict64K", level: 1, dictionary: .init(maxSizeBytes: 64 << 10, trainingBytes: 4 << 20), blockSize: 4096),
            Variant(name: "zstd3 16KiB blocks", level: 3, dictionary: nil, blockSize: 16 << 10),
            Variant(name: "zstd3+dict16K 16KiB blocks", level: 3, dictionary: .init(maxSizeBytes: 16 << 10, trainingBytes: 1 << 20), blockSize: 16 << 10),
        ]
        let fileBytesTargets = [4 << 20, 64 << 20]
        for variant in variants {
            for fileTarget in fileBytesTargets {
                var options = SSTableOptions()
                options.compressionLevel = variant.level
                options.dictionary = variant.dictionary
                options.blockSizeBytes = variant.blockSize
                var total: UInt64 = 0, files = 0, dictionaryBytes: UInt64 = 0, dataRaw: UInt64 = 0, dataStored: UInt64 = 0
                var index = 0
                let start = Date()
                while index < entries.count {
                    files += 1
                    let path = directory.file(String(format: "%06d.sst", files))
                    let file = try TableTesting.fileSystem.open(path, mode: .createTruncate)
                    let builder = SSTableBuilder(file: file, options: options)
                    var raw = 0
                    while index < entries.count && raw < fileTarget {
                        try builder.add(key: entries[index].key, value: entries[index].value)
                        raw += entries[index].key.count + entries[index].value.count
                        index += 1
                    }
                    let metadata = try builder.finish()
                    try file.close()
                    total += metadata.fileSize
                    dictionaryBytes += metadata.properties.dictionarySizeBytes
                    dataRaw += metadata.properties.rawDataBytes
                    dataStored += metadata.properties.storedDataBytes
                    try? FileManager.default.removeItem(atPath: path)
                }
                let seconds = Date().timeIntervalSince(start)
                print(String(format: "%-28@ files<=%2d MiB raw: %3d files, %10llu B, %6.2f B/entry, logical/file %.3fx, data blocks %.3fx, dictionaries %llu B, %.1f s",
                             variant.name as NSString, fileTarget >> 20, files, total, Double(total) / Double(entries.count),
                             Double(logical) / Double(total), Double(dataRaw) / Double(dataStored), dictionaryBytes, seconds))
            }
        }
    }
}
