import Foundation
import Synchronization
@testable import MsgStore

/// A file system over the real one whose `sync` of chosen files blocks until
/// the test opens the gate: it freezes a background job (a flush, a
/// compaction) at a precise point so that a test can take a crash image of
/// the directory while the job is half done.
final class GatedFileSystem: FileSystem {
    private struct State {
        var closed = true
        /// Opens with `.createTruncate` of matching paths fail (EMFILE) while set.
        var failCreates: (@Sendable (String) -> Bool)?
        /// Writes to matching paths fail (ENOSPC) while set.
        var failWrites: (@Sendable (String) -> Bool)?
        /// Paths whose sync is blocked at the gate right now.
        var waiting: [String] = []
    }

    let base = PosixFileSystem()
    /// Which files' syncs wait at the gate (while it is closed).
    let gates: @Sendable (String) -> Bool
    private let state = Mutex(State())
    private let condition = NSCondition()

    init(gating: @escaping @Sendable (String) -> Bool = { _ in false }) { gates = gating }

    /// Paths whose sync is waiting at the gate.
    var waiting: [String] { state.withLock { $0.waiting } }

    /// Lets every waiting sync (and all later ones) through.
    func open() {
        condition.lock()
        state.withLock { $0.closed = false }
        condition.broadcast()
        condition.unlock()
    }

    /// Makes creating matching files fail with EMFILE (nil: stop failing).
    func failCreates(_ matching: (@Sendable (String) -> Bool)?) { state.withLock { $0.failCreates = matching } }
    /// Makes writes to matching files fail with ENOSPC (nil: stop failing).
    func failWrites(_ matching: (@Sendable (String) -> Bool)?) { state.withLock { $0.failWrites = matching } }

    fileprivate func checkWrite(_ path: String) throws {
        if state.withLock({ $0.failWrites?(path) ?? false }) {
            throw StoreError.io("write", file: path, errno: ENOSPC)
        }
    }

    fileprivate func passGate(_ path: String) {
        guard gates(path) else { return }
        condition.lock()
        defer { condition.unlock() }
        guard state.withLock({ $0.closed }) else { return }
        state.withLock { $0.waiting.append(path) }
        while state.withLock({ $0.closed }) { condition.wait() }
        state.withLock { $0.waiting.removeAll { $0 == path } }
    }

    func open(_ path: String, mode: OpenMode) throws -> any MsgStore.FileHandle {
        if mode == .createTruncate, state.withLock({ $0.failCreates?(path) ?? false }) {
            throw StoreError.io("open", file: path, errno: EMFILE)
        }
        return GatedHandle(try base.open(path, mode: mode), owner: self)
    }
    func exists(_ path: String) -> Bool { base.exists(path) }
    func rename(_ source: String, to destination: String) throws { try base.rename(source, to: destination) }
    func remove(_ path: String) throws { try base.remove(path) }
    func createDirectory(_ path: String) throws { try base.createDirectory(path) }
    func syncDirectory(_ path: String) throws { try base.syncDirectory(path) }
    func contentsOfDirectory(_ path: String) throws -> [String] { try base.contentsOfDirectory(path) }
    func fileSize(_ path: String) throws -> Int64 { try base.fileSize(path) }
    func lock(_ path: String) throws -> any FileLock { try base.lock(path) }

    final class GatedHandle: MsgStore.FileHandle {
        let inner: any MsgStore.FileHandle
        let owner: GatedFileSystem
        init(_ inner: any MsgStore.FileHandle, owner: GatedFileSystem) {
            self.inner = inner
            self.owner = owner
        }
        var path: String { inner.path }
        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
            try owner.checkWrite(path)
            try inner.write(bytes, at: offset)
        }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
            try inner.read(into: buffer, at: offset)
        }
        func sync() throws {
            owner.passGate(path)
            try inner.sync()
        }
        func size() throws -> Int64 { try inner.size() }
        func truncate(to size: Int64) throws { try inner.truncate(to: size) }
        func close() throws { try inner.close() }
    }
}

/// Copies every file of `source` but `LOCK` into a new directory: what the
/// disk holds if the process is killed (`kill -9`) at this moment, since
/// every completed `pwrite` is in the page cache.
func crashImage(of source: String, into destination: TestDirectory) throws {
    let manager = FileManager.default
    for name in try manager.contentsOfDirectory(atPath: source) where name != "LOCK" {
        let data = try Data(contentsOf: URL(fileURLWithPath: source + "/" + name))
        try data.write(to: URL(fileURLWithPath: destination.file(name)))
    }
}
