#if canImport(Glibc)
import Glibc
#endif
import Synchronization
@testable import MsgStore

/// A file system over another (the real one by default) that counts the
/// SSTable descriptors open for reading — now and at the peak — and checks
/// the table cache's promise: no descriptor is closed while a read on it is
/// in flight (a close there would let the read hit a recycled descriptor
/// number). Reads of chosen files can be held until released, to keep a
/// read in flight while the test acts.
final class DescriptorCountingFileSystem: FileSystem {
    struct State {
        /// `.sst` files open with mode `.read`, now and at most.
        var openTables = 0
        var peakOpenTables = 0
        /// Opens of `.sst` files with mode `.read`.
        var tableOpens = 0
        /// Closes of a handle while a read on it was in flight.
        var closesDuringReads = 0
        /// Reads on a handle after it was closed.
        var readsAfterClose = 0
        /// Reads of paths containing this fragment wait until it is cleared.
        var holdReadsContaining: String?
        /// Reads waiting now.
        var heldReads = 0
    }

    let base: any FileSystem
    let state = Mutex(State())

    init(base: any FileSystem = PosixFileSystem()) { self.base = base }

    var openTables: Int { state.withLock { $0.openTables } }
    var peakOpenTables: Int { state.withLock { $0.peakOpenTables } }
    var tableOpens: Int { state.withLock { $0.tableOpens } }
    var closesDuringReads: Int { state.withLock { $0.closesDuringReads } }
    var readsAfterClose: Int { state.withLock { $0.readsAfterClose } }
    var heldReads: Int { state.withLock { $0.heldReads } }
    /// Starts measuring the peak from the count open now.
    func resetPeak() { state.withLock { $0.peakOpenTables = $0.openTables } }
    /// Holds every read of a path containing `fragment` until called again with nil.
    func holdReads(containing fragment: String?) { state.withLock { $0.holdReadsContaining = fragment } }

    func open(_ path: String, mode: OpenMode) throws -> any StorageFile {
        let file = try base.open(path, mode: mode)
        let counted = mode == .read && path.hasSuffix(".sst")
        if counted {
            state.withLock {
                $0.openTables += 1
                $0.tableOpens += 1
                $0.peakOpenTables = max($0.peakOpenTables, $0.openTables)
            }
        }
        return Handle(file, owner: self, counted: counted)
    }

    func exists(_ path: String) -> Bool { base.exists(path) }
    func rename(_ source: String, to destination: String) throws { try base.rename(source, to: destination) }
    func remove(_ path: String) throws { try base.remove(path) }
    func createDirectory(_ path: String) throws { try base.createDirectory(path) }
    func syncDirectory(_ path: String) throws { try base.syncDirectory(path) }
    func contentsOfDirectory(_ path: String) throws -> [String] { try base.contentsOfDirectory(path) }
    func fileSize(_ path: String) throws -> Int64 { try base.fileSize(path) }
    func lock(_ path: String) throws -> any FileLock { try base.lock(path) }

    final class Handle: StorageFile {
        struct Status {
            var closed = false
            var readsInFlight = 0
        }
        let inner: any StorageFile
        let owner: DescriptorCountingFileSystem
        let counted: Bool
        let status = Mutex(Status())

        init(_ inner: any StorageFile, owner: DescriptorCountingFileSystem, counted: Bool) {
            self.inner = inner
            self.owner = owner
            self.counted = counted
        }

        var path: String { inner.path }

        func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
            let closed = status.withLock { status in
                status.readsInFlight += 1
                return status.closed
            }
            defer { status.withLock { $0.readsInFlight -= 1 } }
            if closed { owner.state.withLock { $0.readsAfterClose += 1 } }
            var held = false
            while owner.state.withLock({ state -> Bool in
                let hold = state.holdReadsContaining.map { path.contains($0) } ?? false
                if hold != held { state.heldReads += hold ? 1 : -1 }
                return hold
            }) {
                held = true
                usleep(500)
            }
            return try inner.read(into: buffer, at: offset)
        }

        func close() throws {
            let (first, inFlight) = status.withLock { status -> (Bool, Int) in
                defer { status.closed = true }
                return (!status.closed, status.readsInFlight)
            }
            if inFlight > 0 { owner.state.withLock { $0.closesDuringReads += 1 } }
            guard first else { return }
            if counted { owner.state.withLock { $0.openTables -= 1 } }
            try inner.close()
        }

        func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws { try inner.write(bytes, at: offset) }
        func sync() throws { try inner.sync() }
        func size() throws -> Int64 { try inner.size() }
        func truncate(to size: Int64) throws { try inner.truncate(to: size) }
    }
}
