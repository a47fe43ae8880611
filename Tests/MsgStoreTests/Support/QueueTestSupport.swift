import Foundation
import Synchronization
@testable import MsgStore

/// A fresh temporary directory for one test, removed by `cleanUp()`.
struct QueueTestDirectory {
    let path: String

    init(_ name: String = "queue") {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/msgstore-\(name)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// The directory of a queue named `name` inside.
    func queue(_ name: String = "q") -> String { DurableQueue.directory(forQueue: name, inDataDirectory: path) }

    func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
}

/// Small options for tests: small segments so rolls happen.
func smallQueueOptions(maxAttempts: Int = 3, segmentBytesMax: Int = 4096) -> QueueOptions {
    var options = QueueOptions()
    options.maxAttempts = maxAttempts
    options.segmentBytesMax = segmentBytesMax
    return options
}

/// Bytes of a string.
func queueBytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A string of bytes.
func queueText(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Total size of the regular files under `path`.
func queueDiskUsage(_ path: String) -> Int64 {
    guard let names = try? FileManager.default.subpathsOfDirectory(atPath: path) else { return 0 }
    return names.reduce(Int64(0)) { total, name in
        let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + name)
        return total + ((attributes?[.type] as? FileAttributeType) == .typeRegular ? Int64((attributes?[.size] as? NSNumber)?.int64Value ?? 0) : 0)
    }
}

/// A file system that fails `fdatasync` on cue (LevelDB's fault-injection `Env`, reduced).
final class SyncFailingFileSystem: FileSystem {
    let base = PosixFileSystem()
    let isFailingSyncs = Atomic<Bool>(false)

    func open(_ path: String, mode: OpenMode) throws -> any MsgStore.FileHandle {
        SyncFailingFileHandle(base: try base.open(path, mode: mode), owner: self)
    }
    func exists(_ path: String) -> Bool { base.exists(path) }
    func rename(_ source: String, to destination: String) throws { try base.rename(source, to: destination) }
    func remove(_ path: String) throws { try base.remove(path) }
    func createDirectory(_ path: String) throws { try base.createDirectory(path) }
    func syncDirectory(_ path: String) throws { try base.syncDirectory(path) }
    func contentsOfDirectory(_ path: String) throws -> [String] { try base.contentsOfDirectory(path) }
    func fileSize(_ path: String) throws -> Int64 { try base.fileSize(path) }
    func lock(_ path: String) throws -> any FileLock { try base.lock(path) }
}

final class SyncFailingFileHandle: MsgStore.FileHandle {
    let base: any MsgStore.FileHandle
    let owner: SyncFailingFileSystem
    init(base: any MsgStore.FileHandle, owner: SyncFailingFileSystem) { self.base = base; self.owner = owner }
    var path: String { base.path }
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws { try base.write(bytes, at: offset) }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int { try base.read(into: buffer, at: offset) }
    func sync() throws {
        if owner.isFailingSyncs.load(ordering: .relaxed) { throw StoreError.io("fdatasync", file: path, errno: EIO) }
        try base.sync()
    }
    func size() throws -> Int64 { try base.size() }
    func truncate(to size: Int64) throws { try base.truncate(to: size) }
    func close() throws { try base.close() }
}

/// Polls `condition` (every millisecond) until it holds or `seconds` pass; returns whether it held.
func queueEventually(seconds: Double = 5, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int(seconds * 1_000)))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}

/// A flag set once from any task.
final class QueueTestFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// A counter shared between tasks.
final class QueueTestCounter: Sendable {
    private let count = Atomic<Int>(0)
    /// Adds one and returns the new value.
    func increment() -> Int { count.add(1, ordering: .relaxed).newValue }
    var value: Int { count.load(ordering: .relaxed) }
}
