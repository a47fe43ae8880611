import Foundation
import Synchronization

/// The messaging workload of `docs/workload.md` (format_version 1),
/// read the way the peer harness reads it: groups, blocks, reads and checks in
/// memory; `load.bin` streamed record by record. The one reader of the
/// workload's files in Swift.
struct Workload: Sendable {
    /// A group of groups.bin.
    struct Group: Sendable {
        /// The group id (16 bytes).
        var id: [UInt8]
        /// The members (16-byte ids).
        var members: [[UInt8]]
    }

    let directory: String
    /// First 12 hex digits of load.bin's SHA-256 (from workload.json).
    let id: String
    /// The groups, in file order.
    let groups: [Group]
    /// blocks.bin records (blocker ‖ blocked).
    let blocks: [UInt8]
    let blockCount: Int
    /// reads.bin records.
    let reads: [UInt8]
    let readCount: Int
    /// checks.bin records.
    let checks: [UInt8]
    let checkCount: Int
    /// Number of sends in load.bin.
    let sendCount: Int

    init(directory: String) throws {
        self.directory = directory
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/workload.json"))) as? [String: Any] ?? [:]
        let files = meta["files"] as? [String: Any]
        let load = files?["load.bin"] as? [String: Any]
        id = (load?["sha256"] as? String).map { String($0.prefix(12)) } ?? "unknown"

        let (groupBytes, groupCount) = try Workload.readFile(directory, "groups.bin", magic: "MSGGRPS1")
        var groups: [Group] = []
        try groupBytes.withUnsafeBytes { raw in
            var offset = 16
            for _ in 0..<groupCount {
                guard offset + 20 <= raw.count else { throw BenchError("groups.bin truncated") }
                let id = Array(raw[offset..<(offset + 16)])
                let members = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 16, as: UInt32.self)))
                offset += 20
                guard offset + 16 * members <= raw.count else { throw BenchError("groups.bin truncated") }
                groups.append(Group(id: id, members: (0..<members).map { Array(raw[(offset + 16 * $0)..<(offset + 16 * $0 + 16)]) }))
                offset += 16 * members
            }
        }
        self.groups = groups
        (blocks, blockCount) = try Workload.readFile(directory, "blocks.bin", magic: "MSGBLCK1", recordSize: 32)
        (reads, readCount) = try Workload.readFile(directory, "reads.bin", magic: "MSGREAD1", recordSize: 32)
        (checks, checkCount) = try Workload.readFile(directory, "checks.bin", magic: "MSGCHCK1", recordSize: 33)
        let header = try Workload.readHeader(directory + "/load.bin", magic: "MSGLOAD1")
        sendCount = header
    }

    /// Block pair `index` of blocks.bin: (blocker, blocked).
    func block(_ index: Int) -> (ArraySlice<UInt8>, ArraySlice<UInt8>) {
        let base = 16 + index * 32
        return (blocks[base..<(base + 16)], blocks[(base + 16)..<(base + 32)])
    }

    /// Page read `index` of reads.bin: (recipient, after date, limit, expected rows).
    func read(_ index: Int) -> (recipient: ArraySlice<UInt8>, after: Int64, limit: Int, expected: Int) {
        let base = 16 + index * 32
        return reads.withUnsafeBytes { raw in
            (reads[base..<(base + 16)],
             Int64(littleEndian: raw.loadUnaligned(fromByteOffset: base + 16, as: Int64.self)),
             Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: base + 24, as: UInt16.self))),
             Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: base + 28, as: UInt32.self))))
        }
    }

    /// Block lookup `index` of checks.bin: (blocker, blocked, whether the pair is blocked).
    func check(_ index: Int) -> (ArraySlice<UInt8>, ArraySlice<UInt8>, Bool) {
        let base = 16 + index * 33
        return (checks[base..<(base + 16)], checks[(base + 16)..<(base + 32)], checks[base + 32] == 1)
    }

    /// The distinct `after` dates of reads.bin, ascending.
    func readThresholds() -> [Int64] {
        Array(Set((0..<readCount).map { read($0).after })).sorted()
    }

    /// The index of the first element of the ascending `sorted` that is not below `value`.
    static func firstIndex(in sorted: [Int64], notBelow value: Int64) -> Int {
        var low = 0, high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low
    }

    static func readHeader(_ path: String, magic: String) throws -> Int {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw BenchError("cannot open \(path)") }
        defer { try? handle.close() }
        let header = try handle.read(upToCount: 16) ?? Data()
        guard header.count == 16, header.prefix(8) == Data(magic.utf8) else { throw BenchError("\(path): bad magic (want \(magic))") }
        return Int(header.suffix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian)
    }

    static func readFile(_ directory: String, _ name: String, magic: String, recordSize: Int? = nil) throws -> ([UInt8], Int) {
        let path = directory + "/" + name
        guard let data = FileManager.default.contents(atPath: path) else { throw BenchError("cannot read \(path)") }
        let bytes = [UInt8](data)
        guard bytes.count >= 16, Array(bytes[0..<8]) == Array(magic.utf8) else { throw BenchError("\(path): bad magic (want \(magic))") }
        let count = bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))) }
        if let recordSize, bytes.count < 16 + count * recordSize { throw BenchError("\(path) truncated") }
        return (bytes, count)
    }
}

/// Streams load.bin records in file order to any number of tasks, and notes
/// for each of `thresholds` (dates, ascending) the first send dated after it.
final class LoadReader: Sendable {
    struct State {
        var file: UnsafeMutablePointer<FILE>
        var next = 0
        var stop: Int
        let thresholds: [Int64]
        var anchors: [Int]
    }

    let state: Mutex<State>
    let total: Int

    init(path: String, total: Int, thresholds: [Int64] = []) throws {
        guard let file = fopen(path, "rb") else { throw BenchError("cannot open \(path)") }
        setvbuf(file, nil, _IOFBF, 1 << 20)
        fseek(file, 16, SEEK_SET)
        state = Mutex(State(file: file, stop: total, thresholds: thresholds, anchors: []))
        self.total = total
    }

    /// For each threshold, the index of the first send dated after it (`total` when none is).
    func anchors() -> [Int] {
        state.withLock { $0.anchors + Array(repeating: total, count: $0.thresholds.count - $0.anchors.count) }
    }

    /// Limits the records handed out to the first `stop`.
    func setStop(_ stop: Int) { state.withLock { $0.stop = stop } }

    /// Reads the next record into `buffer` (header 64 bytes + content); returns
    /// its index in the file, nil when done.
    func next(into buffer: inout [UInt8]) -> Int? {
        state.withLock { state in
            guard state.next < state.stop else { return nil }
            buffer.removeAll(keepingCapacity: true)
            var header = [UInt8](repeating: 0, count: 64)
            guard fread(&header, 1, 64, state.file) == 64 else { return nil }
            let length = header.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self))) }
            buffer.append(contentsOf: header)
            buffer.append(contentsOf: repeatElement(0, count: length))
            let read = buffer.withUnsafeMutableBytes { fread($0.baseAddress! + 64, 1, length, state.file) }
            guard read == length else { return nil }
            let date = header.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: 56, as: Int64.self)) }
            while state.anchors.count < state.thresholds.count && state.thresholds[state.anchors.count] < date {
                state.anchors.append(state.next)
            }
            state.next += 1
            return state.next - 1
        }
    }

    deinit { state.withLock { _ = fclose($0.file) } }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
