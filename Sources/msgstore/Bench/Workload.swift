import Foundation
import Synchronization

/// The messaging workload of `docs/workload.md` (format_version 1),
/// read the way the peer harness reads it: groups, blocks, reads and checks in
/// memory; `load.bin` streamed record by record.
struct Workload {
    /// A 16-byte id as two words, for hashing.
    struct ID: Hashable {
        var high: UInt64
        var low: UInt64
        init(_ bytes: UnsafeRawBufferPointer) {
            high = bytes.loadUnaligned(as: UInt64.self)
            low = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        }
    }

    let directory: String
    /// First 12 hex digits of load.bin's SHA-256 (from workload.json).
    let id: String
    /// Group id → members (16-byte ids).
    let groups: [ID: [[UInt8]]]
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
    /// workload.json → counts.
    let counts: [String: Any]

    init(directory: String) throws {
        self.directory = directory
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/workload.json"))) as? [String: Any] ?? [:]
        let files = meta["files"] as? [String: Any]
        let load = files?["load.bin"] as? [String: Any]
        id = (load?["sha256"] as? String).map { String($0.prefix(12)) } ?? "unknown"
        counts = meta["counts"] as? [String: Any] ?? [:]

        let (groupBytes, groupCount) = try Workload.readFile(directory, "groups.bin", magic: "MSGGRPS1")
        var groups: [ID: [[UInt8]]] = [:]
        try groupBytes.withUnsafeBytes { raw in
            var offset = 16
            for _ in 0..<groupCount {
                guard offset + 20 <= raw.count else { throw BenchError("groups.bin truncated") }
                let id = ID(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + 16)]))
                let members = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 16, as: UInt32.self)))
                offset += 20
                guard offset + 16 * members <= raw.count else { throw BenchError("groups.bin truncated") }
                groups[id] = (0..<members).map { Array(raw[(offset + 16 * $0)..<(offset + 16 * $0 + 16)]) }
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

/// Streams load.bin records in file order to any number of threads.
final class LoadReader: Sendable {
    struct State {
        var file: UnsafeMutablePointer<FILE>
        var next = 0
        var stop: Int
    }

    let state: Mutex<State>
    let total: Int

    init(path: String, total: Int) throws {
        guard let file = fopen(path, "rb") else { throw BenchError("cannot open \(path)") }
        setvbuf(file, nil, _IOFBF, 1 << 20)
        fseek(file, 16, SEEK_SET)
        state = Mutex(State(file: file, stop: total))
        self.total = total
    }

    /// Limits the records handed out to the first `stop`.
    func setStop(_ stop: Int) { state.withLock { $0.stop = stop } }

    /// Reads the next record into `buffer` (header 64 bytes + content); false when done.
    func next(into buffer: inout [UInt8]) -> Bool {
        state.withLock { state in
            guard state.next < state.stop else { return false }
            buffer.removeAll(keepingCapacity: true)
            var header = [UInt8](repeating: 0, count: 64)
            guard fread(&header, 1, 64, state.file) == 64 else { return false }
            let length = header.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self))) }
            buffer.append(contentsOf: header)
            buffer.append(contentsOf: repeatElement(0, count: length))
            let read = buffer.withUnsafeMutableBytes { fread($0.baseAddress! + 64, 1, length, state.file) }
            guard read == length else { return false }
            state.next += 1
            return true
        }
    }

    deinit { state.withLock { _ = fclose($0.file) } }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
