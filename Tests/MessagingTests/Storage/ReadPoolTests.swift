import Foundation
import Messaging
import MsgStore
import Synchronization
import Testing
@testable import MessagingEngineStorage

/// A file system whose SSTable reads take `delay` while armed: a slow disk.
final class SlowReadFileSystem: FileSystem {
    let base = PosixFileSystem()
    let armed = Atomic<Bool>(false)
    let delayMicroseconds: UInt32
    /// The names of the threads slow reads ran on.
    let slowReadThreads = Mutex<[String]>([])

    init(delayMicroseconds: UInt32) { self.delayMicroseconds = delayMicroseconds }

    func open(_ path: String, mode: OpenMode) throws -> any StorageFile {
        let file = try base.open(path, mode: mode)
        return path.hasSuffix(".sst") ? SlowFile(file: file, fileSystem: self) : file
    }
    func exists(_ path: String) -> Bool { base.exists(path) }
    func rename(_ source: String, to destination: String) throws { try base.rename(source, to: destination) }
    func remove(_ path: String) throws { try base.remove(path) }
    func createDirectory(_ path: String) throws { try base.createDirectory(path) }
    func syncDirectory(_ path: String) throws { try base.syncDirectory(path) }
    func contentsOfDirectory(_ path: String) throws -> [String] { try base.contentsOfDirectory(path) }
    func fileSize(_ path: String) throws -> Int64 { try base.fileSize(path) }
    func lock(_ path: String) throws -> any FileLock { try base.lock(path) }

    final class SlowFile: StorageFile {
        let file: any StorageFile
        let fileSystem: SlowReadFileSystem
        init(file: any StorageFile, fileSystem: SlowReadFileSystem) {
            self.file = file
            self.fileSystem = fileSystem
        }
        var path: String { file.path }
        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws { try file.write(bytes, at: offset) }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
            if fileSystem.armed.load(ordering: .relaxed) {
                let threadName = ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                fileSystem.slowReadThreads.withLock { $0.append(threadName) }
                usleep(fileSystem.delayMicroseconds)
            }
            return try file.read(into: buffer, at: offset)
        }
        func sync() throws { try file.sync() }
        func size() throws -> Int64 { try file.size() }
        func truncate(to size: Int64) throws { try file.truncate(to: size) }
        func close() throws { try file.close() }
    }
}

/// Reads that would touch the disk run on the storage's read pool, never on
/// the cooperative threads: a slow disk stalls only the reads that need it.
@Suite struct ReadPoolTests {
    @Test func aSlowDiskReadDoesNotStallUnrelatedRequests() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("msgstore-readpool-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fileSystem = SlowReadFileSystem(delayMicroseconds: 1_500_000)
        // Cold inboxes on disk: written, flushed to SSTables, then the store reopened (empty caches).
        let sender = UserID.random()
        let cold = (0..<(ProcessInfo.processInfo.activeProcessorCount + 2)).map { _ in UserID.random() }
        do {
            let storage = try EngineMessagingStorage(options: EngineStorageOptions(dataDirectory: directory, sync: .none, fileSystem: fileSystem))
            try await storage.createUser(sender)
            for user in cold {
                try await storage.createUser(user)
                _ = try await storage.deliverDirectMessage(OutgoingMessage(messageID: .random(), sender: sender, content: "cold"), to: user)
            }
            try storage.store.flush()
            try await storage.close()
        }
        let storage = try EngineMessagingStorage(options: EngineStorageOptions(dataDirectory: directory, sync: .none, fileSystem: fileSystem))
        let hot = UserID.random()
        try await storage.createUser(hot)  // in the memtable: served from memory
        _ = try await storage.deliverDirectMessage(OutgoingMessage(messageID: .random(), sender: sender, content: "hot"), to: hot)

        fileSystem.armed.store(true, ordering: .relaxed)
        // More slow reads than the cooperative pool has threads.
        let slowReads = Task {
            try await withThrowingTaskGroup(of: Int.self) { group in
                for user in cold { group.addTask { try await storage.readInbox(of: user, after: nil, limit: 10).count } }
                return try await group.reduce(0, +)
            }
        }
        try await Task.sleep(for: .milliseconds(200))  // the slow reads are under way
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<20 {
            #expect(try await storage.readInbox(of: hot, after: nil, limit: 10).map(\.content) == ["hot"])
            #expect(try await storage.userExists(hot))
        }
        let elapsed = clock.now - start
        #expect(elapsed < .milliseconds(700), "unrelated requests waited \(elapsed) behind slow disk reads")
        #expect(try await slowReads.value == cold.count, "the slow reads complete, with their answers")
        #expect(storage.readsOffloaded >= cold.count)
        let threads = fileSystem.slowReadThreads.withLock { $0 }
        #expect(!threads.isEmpty && threads.allSatisfy { $0.hasPrefix("TP-#") },
                "slow reads ran on \(threads), not only on the read pool's threads")
        fileSystem.armed.store(false, ordering: .relaxed)
        try await storage.close()
    }
}
