#if canImport(Glibc)
import Glibc
#endif
import Synchronization
@testable import MsgStore

/// A file system over the real one that can fail opens, writes or syncs on
/// cue (all of them, or only for paths containing a fragment), hold syncs
/// until released, count handles closed more than once, and simulate a power
/// cut: every file loses the bytes written after its last sync (LevelDB's
/// `FaultInjectionTestEnv`). An open handle's path follows renames (as its
/// descriptor does): faults and synced lengths go by the file's current name.
final class FaultInjectingFileSystem: FileSystem {
    struct State {
        /// Synced length per path.
        var synced: [String: Int64] = [:]
        var failWrites = false
        var failSyncs = false
        var syncCount = 0
        /// Opens, writes, syncs of paths containing these fragments fail ("" matches every path).
        var failOpensContaining: String?
        var failWritesContaining: String?
        var failSyncsContaining: String?
        /// Matching writes to let through before `failWritesContaining` fails them.
        var writesToSkip = 0
        /// Removes of paths containing this fragment fail.
        var failRemovesContaining: String?
        /// Directory syncs of paths containing this fragment fail.
        var failDirectorySyncsContaining: String?
        /// Syncs of paths containing this fragment block until it is cleared.
        var holdSyncsContaining: String?
        /// Syncs blocked right now by `holdSyncsContaining`.
        var heldSyncs = 0
        /// `close` calls on a handle that was already closed (not passed on to the real file).
        var repeatedCloses = 0
        /// Open handles by current path (renames move them).
        var handles: [String: [WeakHandle]] = [:]
    }

    struct WeakHandle { weak var handle: FaultyHandle? }

    let base = PosixFileSystem()
    let state = Mutex(State())

    func failWrites(_ fail: Bool) { state.withLock { $0.failWrites = fail } }
    func failSyncs(_ fail: Bool) { state.withLock { $0.failSyncs = fail } }
    var syncCount: Int { state.withLock { $0.syncCount } }

    /// Fails every `open` of a path containing `fragment` (nil: stop failing).
    func failOpens(containing fragment: String?) { state.withLock { $0.failOpensContaining = fragment } }
    /// Fails every write to a path containing `fragment` (nil: stop failing).
    func failWrites(containing fragment: String?) { failWrites(containing: fragment, after: 0) }
    /// Lets the first `skipped` writes to a path containing `fragment` through, then fails every one.
    func failWrites(containing fragment: String?, after skipped: Int) {
        state.withLock {
            $0.failWritesContaining = fragment
            $0.writesToSkip = skipped
        }
    }
    /// Fails every directory sync of a path containing `fragment` (nil: stop failing).
    func failDirectorySyncs(containing fragment: String?) { state.withLock { $0.failDirectorySyncsContaining = fragment } }
    /// Fails every `remove` of a path containing `fragment` (nil: stop failing).
    func failRemoves(containing fragment: String?) { state.withLock { $0.failRemovesContaining = fragment } }
    /// Fails every sync of a path containing `fragment` (nil: stop failing).
    func failSyncs(containing fragment: String?) { state.withLock { $0.failSyncsContaining = fragment } }
    /// Blocks every sync of a path containing `fragment` until called again with nil.
    func holdSyncs(containing fragment: String?) { state.withLock { $0.holdSyncsContaining = fragment } }
    /// Syncs blocked right now by ``holdSyncs(containing:)``.
    var heldSyncs: Int { state.withLock { $0.heldSyncs } }
    /// `close` calls on handles that were already closed.
    var repeatedCloses: Int { state.withLock { $0.repeatedCloses } }

    private static func matches(_ path: String, _ fragment: String?) -> Bool {
        guard let fragment else { return false }
        return fragment.isEmpty || path.contains(fragment)
    }

    /// Cuts every file written through this file system back to its last synced length.
    func dropUnsyncedData() throws {
        let synced = state.withLock { $0.synced }
        for (path, length) in synced where base.exists(path) {
            let file = try base.open(path, mode: .readWrite)
            if try file.size() > length { try file.truncate(to: length) }
            try file.close()
        }
    }

    func open(_ path: String, mode: OpenMode) throws -> any StorageFile {
        if state.withLock({ Self.matches(path, $0.failOpensContaining) }) {
            throw StoreError(.io, "injected open failure", file: path, errno: 5)
        }
        let file = try base.open(path, mode: mode)
        let size = try file.size()
        let handle = FaultyHandle(file, owner: self)
        state.withLock { state in
            if mode == .createTruncate { state.synced[path] = 0 }
            else if state.synced[path] == nil { state.synced[path] = size }
            state.handles[path, default: []].removeAll { $0.handle == nil }
            state.handles[path, default: []].append(WeakHandle(handle: handle))
        }
        return handle
    }

    func exists(_ path: String) -> Bool { base.exists(path) }
    func rename(_ source: String, to destination: String) throws {
        try base.rename(source, to: destination)
        state.withLock { state in
            state.synced[destination] = state.synced.removeValue(forKey: source)
            let moved = state.handles.removeValue(forKey: source) ?? []
            for weak in moved { weak.handle?.currentPath.withLock { $0 = destination } }
            state.handles[destination, default: []] += moved
        }
    }
    func remove(_ path: String) throws {
        if state.withLock({ Self.matches(path, $0.failRemovesContaining) }) {
            throw StoreError(.io, "injected remove failure", file: path, errno: 5)
        }
        try base.remove(path)
        _ = state.withLock { $0.synced.removeValue(forKey: path) }
    }
    func createDirectory(_ path: String) throws { try base.createDirectory(path) }
    func syncDirectory(_ path: String) throws {
        if state.withLock({ Self.matches(path, $0.failDirectorySyncsContaining) }) {
            throw StoreError(.io, "injected directory fsync failure", file: path, errno: 5)
        }
        try base.syncDirectory(path)
    }
    func contentsOfDirectory(_ path: String) throws -> [String] { try base.contentsOfDirectory(path) }
    func fileSize(_ path: String) throws -> Int64 { try base.fileSize(path) }
    func lock(_ path: String) throws -> any FileLock { try base.lock(path) }

    final class FaultyHandle: StorageFile {
        let inner: any StorageFile
        let owner: FaultInjectingFileSystem
        /// The file's current name (the opened path until a rename moves it).
        let currentPath: Mutex<String>
        init(_ inner: any StorageFile, owner: FaultInjectingFileSystem) {
            self.inner = inner
            self.owner = owner
            currentPath = Mutex(inner.path)
        }
        var path: String { inner.path }
        private var name: String { currentPath.withLock { $0 } }
        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
            let fails = owner.state.withLock { state -> Bool in
                if state.failWrites { return true }
                guard matches(name, state.failWritesContaining) else { return false }
                if state.writesToSkip > 0 {
                    state.writesToSkip -= 1
                    return false
                }
                return true
            }
            if fails { throw StoreError(.io, "injected write failure", file: name, errno: 5) }
            try inner.write(bytes, at: offset)
        }
        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
            try inner.read(into: buffer, at: offset)
        }
        func sync() throws {
            var isHeld = false
            let name = self.name
            while owner.state.withLock({ state -> Bool in
                let hold = matches(name, state.holdSyncsContaining)
                if hold != isHeld { state.heldSyncs += hold ? 1 : -1 }
                return hold
            }) {
                isHeld = true
                usleep(1_000)
            }
            if owner.state.withLock({ $0.failSyncs || matches(name, $0.failSyncsContaining) }) { throw StoreError(.io, "injected fdatasync failure", file: name, errno: 5) }
            try inner.sync()
            let size = try inner.size()
            owner.state.withLock {
                $0.synced[name] = size
                $0.syncCount += 1
            }
        }
        func size() throws -> Int64 { try inner.size() }
        func truncate(to size: Int64) throws {
            try inner.truncate(to: size)
            let name = self.name
            owner.state.withLock { $0.synced[name] = min($0.synced[name] ?? size, size) }
        }
        func close() throws {
            let isRepeated = isClosed.withLock { isClosed in
                defer { isClosed = true }
                return isClosed
            }
            if isRepeated {
                // Counted, not passed on: the descriptor may already belong to another file.
                owner.state.withLock { $0.repeatedCloses += 1 }
                return
            }
            try inner.close()
        }
        private let isClosed = Mutex(false)
        private func matches(_ path: String, _ fragment: String?) -> Bool { FaultInjectingFileSystem.matches(path, fragment) }
    }
}
