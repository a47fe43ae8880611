#if DEBUG || MSGSTORE_FUZZ
import MsgStore
import Synchronization

/// A small in-memory ``FileSystem`` for the fuzz targets: the decoders read
/// (and recovery rewrites) files that never touch the disk. Syncs do nothing;
/// locks always succeed. Paths are plain strings; a file's directory is the
/// part before its last slash.
///
/// A file may not grow past ``maxFileBytes``: a decoder that tries (a corrupt
/// size turned into a truncate or a write far away) is a finding, so the
/// harness traps rather than hiding it behind an error.
final class MemoryFileSystem: FileSystem {
    static let maxFileBytes = 64 << 20

    private struct State {
        var files: [String: MemoryFile] = [:]
        var directories: Set<String> = ["/"]
    }

    private let state = Mutex(State())

    init() {}

    /// Creates (or replaces) the file at `path` holding `bytes`, creating its directory.
    func put(_ path: String, _ bytes: [UInt8]) {
        let file = MemoryFile(path: path, bytes: bytes)
        state.withLock {
            $0.directories.insert(Self.directory(of: path))
            $0.files[path] = file
        }
    }

    /// The bytes of the file at `path`, if it exists.
    func contents(_ path: String) -> [UInt8]? {
        state.withLock { $0.files[path] }?.snapshot()
    }

    func open(_ path: String, mode: OpenMode) throws -> any StorageFile {
        try state.withLock { state -> any StorageFile in
            if let file = state.files[path] {
                if mode == .createTruncate { try file.truncate(to: 0) }
                return MemoryFileHandle(path: path, file: file)
            }
            guard mode == .create || mode == .createTruncate else {
                throw StoreError(.notFound, "no such file", file: path)
            }
            guard state.directories.contains(Self.directory(of: path)) else {
                throw StoreError(.notFound, "no such directory", file: path)
            }
            let file = MemoryFile(path: path, bytes: [])
            state.files[path] = file
            return MemoryFileHandle(path: path, file: file)
        }
    }

    func exists(_ path: String) -> Bool {
        state.withLock { $0.files[path] != nil || $0.directories.contains(path) }
    }

    func rename(_ source: String, to destination: String) throws {
        try state.withLock { state in
            guard let file = state.files.removeValue(forKey: source) else {
                throw StoreError(.notFound, "no such file", file: source)
            }
            state.files[destination] = file
        }
    }

    func remove(_ path: String) throws {
        try state.withLock { state in
            guard state.files.removeValue(forKey: path) != nil else {
                throw StoreError(.notFound, "no such file", file: path)
            }
        }
    }

    func createDirectory(_ path: String) throws {
        state.withLock { state in
            var path = path
            while path != "/" && path != "." && !path.isEmpty {
                state.directories.insert(path)
                path = Self.directory(of: path)
            }
        }
    }

    func syncDirectory(_ path: String) throws {}

    func contentsOfDirectory(_ path: String) throws -> [String] {
        try state.withLock { state in
            guard state.directories.contains(path) else {
                throw StoreError(.notFound, "no such directory", file: path)
            }
            let prefix = path.hasSuffix("/") ? path : path + "/"
            var names: [String] = []
            for name in state.files.keys where Self.directory(of: name) == path { names.append(String(name.dropFirst(prefix.count))) }
            for name in state.directories where name != path && Self.directory(of: name) == path {
                names.append(String(name.dropFirst(prefix.count)))
            }
            return names
        }
    }

    func fileSize(_ path: String) throws -> Int64 {
        guard let file = state.withLock({ $0.files[path] }) else {
            throw StoreError(.notFound, "no such file", file: path)
        }
        return file.size()
    }

    func lock(_ path: String) throws -> any FileLock {
        if !exists(path) { put(path, []) }
        return MemoryLock()
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }
}

/// The bytes of one in-memory file, shared by its handles.
final class MemoryFile: Sendable {
    let path: String
    private let bytes: Mutex<[UInt8]>

    init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = Mutex(bytes)
    }

    func snapshot() -> [UInt8] { bytes.withLock { $0 } }

    func size() -> Int64 { Int64(bytes.withLock { $0.count }) }

    func write(_ source: UnsafeRawBufferPointer, at offset: Int64) throws {
        let end = Int(offset) + source.count
        precondition(offset >= 0 && end <= MemoryFileSystem.maxFileBytes,
                     "fuzz harness: a write to \(path) at \(offset) of \(source.count) bytes grows it past \(MemoryFileSystem.maxFileBytes) bytes")
        bytes.withLock { bytes in
            if bytes.count < end { bytes.append(contentsOf: repeatElement(0, count: end - bytes.count)) }
            bytes.withUnsafeMutableBytes { target in
                if let base = source.baseAddress, source.count > 0 {
                    (target.baseAddress! + Int(offset)).copyMemory(from: base, byteCount: source.count)
                }
            }
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        guard offset >= 0 else { throw StoreError(.invalidArgument, "negative offset \(offset)", file: path) }
        return bytes.withLock { bytes in
            guard offset < Int64(bytes.count), buffer.count > 0 else { return 0 }
            let count = Swift.min(buffer.count, bytes.count - Int(offset))
            bytes.withUnsafeBytes { source in
                buffer.baseAddress!.copyMemory(from: source.baseAddress! + Int(offset), byteCount: count)
            }
            return count
        }
    }

    func truncate(to size: Int64) throws {
        precondition(size >= 0 && size <= Int64(MemoryFileSystem.maxFileBytes),
                     "fuzz harness: truncating \(path) to \(size) bytes")
        bytes.withLock { bytes in
            if Int(size) < bytes.count { bytes.removeSubrange(Int(size)...) }
            else { bytes.append(contentsOf: repeatElement(0, count: Int(size) - bytes.count)) }
        }
    }
}

/// An open handle on a ``MemoryFile``.
final class MemoryFileHandle: StorageFile {
    let path: String
    private let file: MemoryFile
    private let closed = Atomic<Bool>(false)

    init(path: String, file: MemoryFile) {
        self.path = path
        self.file = file
    }

    private func checkOpen() throws {
        if closed.load(ordering: .relaxed) { throw StoreError(.io, "file is closed", file: path) }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try checkOpen()
        try file.write(bytes, at: offset)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        try checkOpen()
        return try file.read(into: buffer, at: offset)
    }

    func sync() throws { try checkOpen() }

    func size() throws -> Int64 {
        try checkOpen()
        return file.size()
    }

    func truncate(to size: Int64) throws {
        try checkOpen()
        try file.truncate(to: size)
    }

    func close() throws {
        guard !closed.exchange(true, ordering: .relaxed) else { throw StoreError(.io, "file closed twice", file: path) }
    }
}

/// A lock that is always granted (one process, one thread of the harness).
final class MemoryLock: FileLock {
    func unlock() {}
}
#endif
